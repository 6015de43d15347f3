defmodule Hudson.Desktop.StdinWatcher do
  @moduledoc """
  Stops the VM when stdin closes.

  The shell holds the write end of the backend's stdin. However the shell ends -
  normal exit, crash, SIGKILL, Windows task kill - the OS closes that end, this
  process reads end-of-file and stops the VM gracefully (every application's
  supervision tree, then a halt: `stop_then_halt/0`). It is the one cleanup
  that left no orphan holding the port in every case measured.

  The shell also answers `Hudson.SecureStorage` requests on stdin: lines
  starting with the record-separator byte go to it (`:storage`, default
  `Hudson.SecureStorage`); anything else is read and dropped.

  It runs in the release by default and is off under `iex -S mix` and ExUnit
  (`config :hudson, stdin_watcher:`); `HUDSON_IGNORE_STDIN=1` turns it off for a
  manual `bin/hudson start` whose stdin is not a terminal. A Phoenix app adds
  this module to its supervision tree unchanged.
  """
  # Transient: restarted with its siblings when secure storage restarts
  # (`:rest_for_one`), never after it stopped the VM normally.
  use Task, restart: :transient
  require Logger

  # A stop requested while the VM is still booting can stall (init queues it
  # behind the boot); past this deadline the VM halts instead, so a closed
  # stdin always ends the process.
  @halt_after_ms 5_000

  @doc "Options: `:device` (default `:stdio`), `:storage`, `:on_eof` (default: stop, then halt after 5 s)."
  def start_link(opts \\ []) do
    # The release's own stop: SIGTERM too stops the way end-of-file does.
    unless Keyword.has_key?(opts, :on_eof), do: Hudson.Desktop.Sigterm.install()
    Task.start_link(__MODULE__, :watch, [opts])
  end

  @doc false
  def watch(opts) do
    # Bytes, whatever the device's encoding: answers are ASCII-only JSON
    # (non-ASCII escaped as \\uXXXX by the shell).
    read(Keyword.get(opts, :device, :stdio), opts)
  end

  defp read(device, opts) do
    case IO.binread(device, :line) do
      data when is_binary(data) ->
        if Hudson.SecureStorage.frame?(data),
          do:
            Hudson.SecureStorage.deliver(data, Keyword.get(opts, :storage, Hudson.SecureStorage))

        watch(opts)

      other ->
        reason =
          if other == :eof, do: "stdin closed", else: "stdin unreadable (#{inspect(other)})"

        Logger.info("#{reason}: stopping")
        Keyword.get(opts, :on_eof, &stop_or_halt/0).()
    end
  end

  @doc false
  def stop_or_halt do
    # The watchdog and the stop must outlive this task and its application:
    # neither linked, nor in the group an application's stop ends.
    detached(fn ->
      Process.sleep(@halt_after_ms)
      System.halt(0)
    end)

    detached(&stop_then_halt/0)
  end

  defp detached(fun) do
    spawn(fn ->
      Process.group_leader(self(), Process.whereis(:init))
      fun.()
    end)
  end

  @doc """
  What `System.stop/1` does, less its last idle second: every application
  but `kernel`, `stdlib` and `logger` (which holds no data, and writes what
  the others log as they stop) stops, the most recently started first (so the
  app's own supervision tree goes before the libraries it uses), each
  supervision tree gracefully: requests finish, databases close. Then the VM
  halts, flushing its output. `System.stop/1` would go on to stop `kernel`,
  whose io server OTP 25 gives a full second before killing it
  (erlang/otp#4895) - a second every quit, restart to update and rollback
  waited for after everything holding data had already stopped.
  """
  def stop_then_halt do
    # Each deliberate stop would log "Application … exited: :stopped".
    :logger.add_primary_filter(:hudson_quiet_stops, {&quiet_stops/2, nil})

    for {app, _description, _version} <- Application.started_applications(),
        app not in [:kernel, :stdlib, :logger] do
      # Stopped already (SIGTERM and the end of stdin both asked): `{:error, _}`.
      Application.stop(app)
    end

    # What the applications logged as they stopped reaches the output.
    Logger.flush()
    System.halt(0)
  end

  defp quiet_stops(
         %{msg: {:report, %{label: {:application_controller, :exit}, report: report}}},
         _
       ) do
    if report[:exited] == :stopped, do: :stop, else: :ignore
  end

  defp quiet_stops(_event, _), do: :ignore
end
