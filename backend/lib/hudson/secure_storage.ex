defmodule Hudson.SecureStorage do
  @moduledoc """
  Secrets from the OS store (macOS Keychain, Windows Credential Manager, the
  Secret Service on Linux), reached through the desktop shell: `get/1`,
  `put/2` and `delete/1` return `{:ok, value}` / `:ok` or `{:error, reason}`.

  The shell holds the store (it is the signed identity the keychain's rules
  attach to); this process asks it over the private pipes the two already
  share: a request is one line on stdout, the answer one line on stdin, each
  starting with the record-separator byte `0x1E` and carrying JSON with a
  request id (ARCHITECTURE.md, "Secrets"; `contract::storage` in
  `hudson-lifecycle`). Nothing goes through the environment, arguments or
  files, and values stay in process memory: use them at call time, never
  `System.put_env/2`.

  Reasons: `:not_found`, `:invalid_key`, `:too_large`, `:unavailable` (no
  store, or a locked one: `last_error/0` says what to install or unlock),
  `:malformed`, `:failed`, `:timeout`. Without the shell
  (`HUDSON_SECURE_STORAGE` unset: `iex -S mix`, tests) every call answers
  `{:error, :unavailable}`.

  A Phoenix app copies this module and `Hudson.Desktop.StdinWatcher` (which
  hands it the answer lines) unchanged and starts both in its tree.
  """
  use GenServer
  require Logger

  @mark 0x1E
  @max_value_bytes 65_536
  @key ~r/\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z/
  # The shell answers `unavailable` after 60 s (a keyring waiting for its
  # user to unlock it); this bound only covers a shell that never answers.
  @call_timeout 70_000

  @doc "Options: `:name`, `:enabled` (default: `HUDSON_SECURE_STORAGE` is `stdio-1`), `:device` (default `:stdio`)."
  def start_link(opts \\ []),
    do: GenServer.start_link(__MODULE__, opts, name: Keyword.get(opts, :name, __MODULE__))

  @spec get(String.t(), GenServer.server()) :: {:ok, String.t()} | {:error, atom}
  def get(key, server \\ __MODULE__), do: request(server, "get", key, nil)

  @spec put(String.t(), String.t(), GenServer.server()) :: :ok | {:error, atom}
  def put(key, value, server \\ __MODULE__) do
    cond do
      not is_binary(value) or not String.valid?(value) -> {:error, :invalid_value}
      byte_size(value) > @max_value_bytes -> {:error, :too_large}
      true -> request(server, "put", key, value)
    end
  end

  @spec delete(String.t(), GenServer.server()) :: :ok | {:error, atom}
  def delete(key, server \\ __MODULE__), do: request(server, "delete", key, nil)

  @doc "The message of the last failure (what to install or unlock), or nil."
  def last_error(server \\ __MODULE__), do: GenServer.call(server, :last_error)

  @doc false
  # One answer line from the shell (without the mark), from the stdin reader.
  def deliver(line, server \\ __MODULE__), do: GenServer.cast(server, {:answer, line})

  @doc "True when `line` (as read from stdin) is a storage answer."
  def frame?(<<@mark, _::binary>>), do: true
  def frame?(_), do: false

  defp request(server, op, key, value) do
    if is_binary(key) and Regex.match?(@key, key) do
      try do
        GenServer.call(server, {:request, op, key, value}, @call_timeout)
      catch
        :exit, {:timeout, _} -> {:error, :timeout}
        :exit, _ -> {:error, :unavailable}
      end
    else
      {:error, :invalid_key}
    end
  end

  @impl true
  def init(opts) do
    enabled =
      Keyword.get_lazy(opts, :enabled, fn ->
        System.get_env("HUDSON_SECURE_STORAGE") == "stdio-1"
      end)

    {:ok,
     %{
       enabled: enabled,
       device: Keyword.get(opts, :device, :stdio),
       next: 1,
       pending: %{},
       last_error: if(enabled, do: nil, else: "not started by the Hudson desktop shell")
     }}
  end

  @impl true
  def handle_call({:request, _op, _key, _value}, _from, %{enabled: false} = state),
    do: {:reply, {:error, :unavailable}, state}

  def handle_call({:request, op, key, value}, from, state) do
    id = state.next
    fields = [{"id", id}, {"op", op}, {"key", key}] ++ if(value, do: [{"value", value}], else: [])
    # One write per frame: the group leader never interleaves two writes.
    IO.binwrite(state.device, [@mark, Hudson.JSON.encode!(fields), ?\n])
    {:noreply, %{state | next: id + 1, pending: Map.put(state.pending, id, {from, op})}}
  end

  def handle_call(:last_error, _from, state), do: {:reply, state.last_error, state}

  @impl true
  def handle_cast({:answer, line}, state) do
    line = line |> strip_mark() |> String.trim_trailing()

    case Hudson.JSON.decode(line) do
      {:ok, %{"id" => id} = answer} when is_map_key(state.pending, id) ->
        {{from, op}, pending} = Map.pop(state.pending, id)
        {reply, state} = reply(op, answer, state)
        GenServer.reply(from, reply)
        {:noreply, %{state | pending: pending}}

      {:ok, %{"error" => %{"message" => message}}} ->
        Logger.warning("secure storage: the shell refused a request: #{message}")
        {:noreply, state}

      _ ->
        Logger.warning("secure storage: an answer from the shell could not be read")
        {:noreply, state}
    end
  end

  defp reply("get", %{"ok" => true, "value" => value}, state) when is_binary(value),
    do: {{:ok, value}, state}

  defp reply(_op, %{"ok" => true}, state), do: {:ok, state}

  defp reply(_op, %{"error" => %{"code" => code, "message" => message}}, state) do
    reason = reason(code)
    state = if reason == :not_found, do: state, else: %{state | last_error: message}
    {{:error, reason}, state}
  end

  defp reply(_op, _answer, state), do: {{:error, :malformed}, state}

  @reasons ~w(not_found invalid_key too_large malformed unavailable failed)
  defp reason(code) when code in @reasons, do: String.to_existing_atom(code)
  defp reason(_code), do: :failed

  defp strip_mark(<<@mark, rest::binary>>), do: rest
  defp strip_mark(line), do: line
end
