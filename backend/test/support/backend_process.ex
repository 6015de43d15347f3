defmodule Hudson.Test.BackendProcess do
  @moduledoc """
  Runs the compiled backend as a real OS process the way the desktop shell
  does: contract environment, stdin a pipe held by the test, stdout and
  stderr captured. `elixir` runs the test build's ebin with the release's
  app config (server and stdin watcher on), so no release build is needed.

  The process runs under `sh`, which records the VM's exit status in a file:
  closing the port (to close stdin) would lose the status otherwise.
  """
  import ExUnit.Assertions

  defstruct [:port, :dir, :handshake_file, :status_file, :stdout, :stderr]

  @doc "Options: `:env` (extra variables), `:ebin` (default: the test build's)."
  def start(dir, opts \\ []) do
    elixir =
      System.find_executable("elixir") || flunk("elixir is not on PATH (apt-get install elixir)")

    ebin = Keyword.get(opts, :ebin, Application.app_dir(:hudson, "ebin"))

    config = Path.join(dir, "sys")

    File.write!(
      "#{config}.config",
      "[{hudson,[{server,true},{stdin_watcher,true}]}," <>
        "{logger,[{console,[{device,standard_error}]},{level,info}]}]."
    )

    backend = %__MODULE__{
      dir: dir,
      handshake_file: Path.join(dir, "handshake.json"),
      status_file: Path.join(dir, "exit_status"),
      stdout: Path.join(dir, "stdout"),
      stderr: Path.join(dir, "stderr")
    }

    env =
      %{
        "PHX_SERVER" => "true",
        "PHX_HOST" => "127.0.0.1",
        "PORT" => "0",
        "HUDSON_HANDSHAKE_FILE" => backend.handshake_file,
        "HUDSON_HANDSHAKE_TOKEN" => token(),
        "HUDSON_IGNORE_STDIN" => false,
        "HUDSON_SERVER_SCHEMA" => false,
        "ELIXIR" => elixir,
        "OUT" => backend.stdout,
        "ERR" => backend.stderr,
        "STATUS" => backend.status_file
      }
      |> Map.merge(Map.new(Keyword.get(opts, :env, [])))
      |> Enum.map(fn {k, v} -> {to_charlist(k), v && to_charlist(v)} end)

    args = [
      "-c",
      ~s("$ELIXIR" "$@" >"$OUT" 2>"$ERR"; echo $? >"$STATUS"),
      "sh",
      "--erl-config",
      config,
      "-pa",
      ebin,
      "--no-halt",
      "-e",
      "{:ok, _} = Application.ensure_all_started(:hudson)"
    ]

    port =
      Port.open({:spawn_executable, "/bin/sh"}, [:binary, :exit_status, args: args, env: env])

    %{backend | port: port}
  end

  @doc "A token shaped like the shell's: 128 random bits in hex."
  def token, do: Base.encode16(:crypto.strong_rand_bytes(16), case: :lower)

  @doc "Waits for the handshake file and returns it decoded."
  def handshake!(backend, timeout \\ 20_000) do
    wait_until(timeout, fn ->
      with {:ok, text} <- File.read(backend.handshake_file), do: Hudson.Test.JSON.decode!(text)
    end) || flunk("no handshake in #{timeout} ms; stderr:\n#{File.read!(backend.stderr)}")
  end

  @doc "Closes the backend's stdin, as a dying shell would."
  def close_stdin(backend), do: Port.close(backend.port)

  @doc "The VM's exit status, or `:timeout`."
  def exit_status(backend, timeout) do
    wait_until(timeout, fn ->
      case File.read(backend.status_file) do
        {:ok, text} -> text |> String.trim() |> String.to_integer()
        _ -> nil
      end
    end) || :timeout
  end

  @doc "The OS pid of the `sh` wrapper, parent of the VM."
  def wrapper_pid(backend) do
    {:os_pid, pid} = Port.info(backend.port, :os_pid)
    pid
  end

  @doc "True while the OS process runs (zombies count as gone)."
  def alive?(os_pid) do
    case System.cmd("ps", ["-o", "stat=", "-p", to_string(os_pid)]) do
      {"Z" <> _, _} -> false
      {stat, 0} -> stat != ""
      {_, _} -> false
    end
  end

  @doc "SIGKILLs whatever is left; for on_exit."
  def kill(backend, vm_pid) do
    for pid <- [vm_pid, backend.port && safe_wrapper_pid(backend)],
        is_integer(pid),
        alive?(pid) do
      System.cmd("kill", ["-KILL", to_string(pid)])
    end

    :ok
  end

  defp safe_wrapper_pid(backend) do
    case Port.info(backend.port, :os_pid) do
      {:os_pid, pid} -> pid
      nil -> nil
    end
  end

  defp wait_until(timeout, fun) do
    deadline = System.monotonic_time(:millisecond) + timeout
    poll(deadline, fun)
  end

  defp poll(deadline, fun) do
    result = fun.()

    cond do
      result not in [nil, false] and not match?({:error, _}, result) ->
        result

      System.monotonic_time(:millisecond) > deadline ->
        nil

      true ->
        Process.sleep(50)
        poll(deadline, fun)
    end
  end
end
