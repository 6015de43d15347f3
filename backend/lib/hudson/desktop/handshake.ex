defmodule Hudson.Desktop.Handshake do
  @moduledoc """
  Tells the desktop shell where the backend listens, once it does:

    1. writes `{"port":N,"token":"<token>","pid":P,"version":"X"}` to the
       handshake file atomically: a temporary file in the same directory,
       created exclusively and made 0600 before it holds the token, then
       renamed over the target - the shell never reads half a file;
    2. prints one line `PORT:<N>` on stdout, the shell's fallback signal.

  As a child (`child_spec/1`) it runs once, synchronously, right after the
  server in a `:rest_for_one` supervisor: when the server restarts on a new
  port, the handshake is written again. A Phoenix app adds the same child after
  its Endpoint and gets the port from `MyAppWeb.Endpoint.server_info(:http)`.
  """
  require Logger

  @doc "Supervisor entry point: announces, then returns `:ignore` (nothing to keep running)."
  def start_link(opts) do
    port = Keyword.fetch!(opts, :port_fun).()
    announce(port, opts)
    :ignore
  end

  def child_spec(opts), do: %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}}

  @doc """
  Writes the handshake file and prints the `PORT:` line.

  Options: `:file`, `:token` (a string, or a zero-arity fun returning it so it
  stays out of crash reports), `:version`, `:device` (default `:stdio`),
  `:log_enter_url` (log the enter URL: only for a token the backend made up).
  """
  def announce(port, opts) do
    file = Keyword.fetch!(opts, :file)
    token = reveal(Keyword.fetch!(opts, :token))
    write!(file, contents(port, token, Keyword.fetch!(opts, :version)))
    IO.puts(Keyword.get(opts, :device, :stdio), "PORT:#{port}")
    Logger.info("listening on http://127.0.0.1:#{port}; handshake written to #{file}")

    if opts[:log_enter_url] do
      # Only for a token the backend made up itself: the shell's token is never logged.
      Logger.warning(
        "HUDSON_HANDSHAKE_TOKEN is unset (development): enter at " <>
          "http://localhost:#{port}/desktop/enter?token=#{token}"
      )
    end

    :ok
  end

  defp reveal(token) when is_function(token, 0), do: token.()
  defp reveal(token) when is_binary(token), do: token

  @doc "The handshake document."
  def contents(port, token, version) do
    Hudson.JSON.encode!([
      {"port", port},
      {"token", token},
      {"pid", Hudson.Desktop.Health.os_pid()},
      {"version", version}
    ])
  end

  @doc "Atomically replaces `path` with `data`, readable by the owner only."
  def write!(path, data) do
    # Pid and counter: an old and a new backend may announce into the same folder.
    unique = "#{System.pid()}.#{System.unique_integer([:positive])}"
    tmp = Path.join(Path.dirname(path), ".#{Path.basename(path)}.#{unique}.tmp")

    # :exclusive refuses a file or symlink planted at the temporary name.
    with {:ok, fd} <- :file.open(tmp, [:write, :exclusive, :raw, :binary]),
         :ok <- write_private(fd, tmp, data),
         :ok <- :file.rename(tmp, path) do
      :ok
    else
      {:error, reason} ->
        File.rm(tmp)
        raise "cannot write handshake file #{path}: #{:file.format_error(reason)}"
    end
  end

  defp write_private(fd, tmp, data) do
    with :ok <- :file.change_mode(tmp, 0o600),
         :ok <- :file.write(fd, data),
         do: :file.sync(fd)
  after
    :file.close(fd)
  end
end
