defmodule Hudson.Desktop.StdinWatcher do
  @moduledoc """
  Stops the VM when stdin closes.

  The shell holds the write end of the backend's stdin. However the shell ends -
  normal exit, crash, SIGKILL, Windows task kill - the OS closes that end, this
  process reads end-of-file and stops the VM gracefully (`System.stop(0)`). It
  is the one cleanup that left no orphan holding the port in every case measured.

  It runs in the release by default and is off under `iex -S mix` and ExUnit
  (`config :hudson, stdin_watcher:`); `HUDSON_IGNORE_STDIN=1` turns it off for a
  manual `bin/hudson start` whose stdin is not a terminal. A Phoenix app adds
  this module to its supervision tree unchanged.
  """
  use Task, restart: :temporary
  require Logger

  @doc "Options: `:device` (default `:stdio`), `:on_eof` (default `fn -> System.stop(0) end`)."
  def start_link(opts \\ []), do: Task.start_link(__MODULE__, :watch, [opts])

  @doc false
  def watch(opts) do
    device = Keyword.get(opts, :device, :stdio)

    # The shell writes nothing; anything that arrives is read and dropped.
    case IO.binread(device, :line) do
      data when is_binary(data) ->
        watch(opts)

      other ->
        reason =
          if other == :eof, do: "stdin closed", else: "stdin unreadable (#{inspect(other)})"

        Logger.info("#{reason}: stopping")
        Keyword.get(opts, :on_eof, fn -> System.stop(0) end).()
    end
  end
end
