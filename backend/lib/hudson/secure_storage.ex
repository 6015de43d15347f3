defmodule Hudson.SecureStorage do
  @moduledoc """
  Secrets from the OS store (macOS Keychain, Windows Credential Manager, the
  Secret Service on Linux), reached through the desktop shell: `get/1`,
  `put/2` and `delete/1` return `{:ok, value}` / `:ok` or `{:error, reason}`.

  The shell holds the store (it is the signed identity the keychain's rules
  attach to); this process asks it over the private pipes the two already
  share: a request is one line on stdout, the answer one line on stdin, each
  starting with the record-separator byte `0x1E` and carrying ASCII-only
  JSON (`\\uXXXX` for anything else) with a request id (ARCHITECTURE.md, "Secrets"; `contract::storage` in
  `hudson-lifecycle`). Nothing goes through the environment, arguments or
  files, and values stay in process memory: use them at call time, never
  `System.put_env/2`.

  Reasons: `:not_found`, `:invalid_key`, `:invalid_value` (not UTF-8 text),
  `:too_large`, `:unavailable` (no store, or a locked one: `last_error/0` says
  what to install or unlock), `:malformed`, `:failed`, `:timeout` (no answer
  within 70 s). Without the shell
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
  # user to unlock it); past this the caller hears `:timeout` and the
  # request is forgotten (a late answer is dropped).
  @answer_within 70_000

  @doc """
  Options: `:name`, `:device` (default `:stdio`), `:enabled` (default: the
  shell set `HUDSON_SECURE_STORAGE=stdio-1` and the stdin watcher runs, which
  hands over the answers).
  """
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
  def last_error(server \\ __MODULE__) do
    GenServer.call(server, :last_error, 5_000)
  catch
    :exit, _ -> "secure storage is not running"
  end

  @doc false
  # One answer line from the shell (without the mark), from the stdin reader.
  def deliver(line, server \\ __MODULE__), do: GenServer.cast(server, {:answer, line})

  @doc "True when `line` (as read from stdin) is a storage answer."
  def frame?(<<@mark, _::binary>>), do: true
  def frame?(_), do: false

  defp request(server, op, key, value) do
    if is_binary(key) and Regex.match?(@key, key) do
      try do
        # The server answers every request within @answer_within itself.
        GenServer.call(server, {:request, op, key, value}, :infinity)
      catch
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
        System.get_env("HUDSON_SECURE_STORAGE") == "stdio-1" and
          Application.get_env(:hudson, :stdin_watcher, false) and
          System.get_env("HUDSON_IGNORE_STDIN") != "1"
      end)

    device = Keyword.get(opts, :device, :stdio)

    {:ok,
     %{
       enabled: enabled,
       device: device,
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
    # Hudson.JSON writes ASCII only (\\uXXXX for the rest), so the bytes
    # arrive unchanged whatever the device's encoding.
    IO.binwrite(state.device, [@mark, Hudson.JSON.encode!(fields), ?\n])
    timer = Process.send_after(self(), {:expire, id}, @answer_within)
    {:noreply, %{state | next: id + 1, pending: Map.put(state.pending, id, {from, op, timer})}}
  end

  def handle_call(:last_error, _from, state), do: {:reply, state.last_error, state}

  @impl true
  def handle_cast({:answer, line}, state) do
    line = line |> strip_mark() |> String.trim_trailing()

    case Hudson.JSON.decode(line) do
      {:ok, %{"id" => id} = answer} when is_map_key(state.pending, id) ->
        {{from, op, timer}, pending} = Map.pop(state.pending, id)
        Process.cancel_timer(timer)
        {reply, state} = reply(op, answer, state)
        GenServer.reply(from, reply)
        {:noreply, %{state | pending: pending}}

      {:ok, %{"id" => nil, "error" => %{"message" => message}}} ->
        Logger.warning("secure storage: the shell refused a request: #{message}")
        {:noreply, state}

      {:ok, %{"id" => _late}} ->
        # Its caller already heard :timeout.
        {:noreply, state}

      _ ->
        Logger.warning("secure storage: an answer from the shell could not be read")
        {:noreply, state}
    end
  end

  @impl true
  def handle_info({:expire, id}, state) do
    case Map.pop(state.pending, id) do
      {{from, _op, _timer}, pending} ->
        GenServer.reply(from, {:error, :timeout})
        message = "the desktop shell did not answer a storage request within 70 s"
        {:noreply, %{state | pending: pending, last_error: message}}

      {nil, _} ->
        {:noreply, state}
    end
  end

  # Crash reports print the state and the last message; both may hold a
  # value (a request's, or an answer line's).
  @impl true
  def format_status(_reason, [_pdict, state]), do: redacted(state)

  def format_status(%{} = status) do
    status
    |> Map.update(:state, nil, &redacted/1)
    |> Map.update(:message, nil, fn _ -> :redacted end)
  end

  defp redacted(%{pending: pending} = state),
    do: %{state | pending: Map.new(pending, fn {id, {_from, op, _t}} -> {id, op} end)}

  defp redacted(other), do: other

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
