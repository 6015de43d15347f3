defmodule Hudson.Desktop.StdinWatcher do
  @moduledoc """
  Stops the VM when stdin closes.

  The shell holds the write end of the backend's stdin. However the shell ends -
  normal exit, crash, SIGKILL, Windows task kill - the OS closes that end, this
  process reads end-of-file and stops the VM gracefully (`System.stop(0)`). It
  is the one cleanup that left no orphan holding the port in every case measured.

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
  def start_link(opts \\ []), do: Task.start_link(__MODULE__, :watch, [opts])

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
    # Not linked: the watchdog must outlive this task while the VM stops.
    spawn(fn ->
      Process.sleep(@halt_after_ms)
      System.halt(0)
    end)

    System.stop(0)
  end
end
