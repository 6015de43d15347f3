defmodule Hudson.Desktop.Sigterm do
  @moduledoc """
  SIGTERM stops the VM the way the end of stdin does
  (`Hudson.Desktop.StdinWatcher.stop_then_halt/0`: every application's
  supervision tree gracefully, then a halt), instead of OTP's default
  `init:stop/0`, which waits a further idle second for `kernel`'s io server
  after everything holding data has stopped.

  The shell closes stdin and sends SIGTERM together: whichever the VM sees
  first, the same stop runs (a second one finds the applications stopped).
  Other signals keep OTP's handling (`erl_signal_handler`). Installed by
  `Hudson.Desktop.StdinWatcher` in the release, as the last child of the
  app's supervision tree starts: a SIGTERM before then is OTP's as before,
  and one in the instant before the app counts as started stops the
  libraries but not the app, whose database SQLite then recovers from its
  write-ahead log on the next open, as after a crash.
  """
  @behaviour :gen_event
  require Logger

  @doc "Takes SIGTERM over from OTP's handler, once (a restarted watcher calls it again)."
  def install do
    case Process.whereis(:erl_signal_server) do
      nil ->
        :ok

      server ->
        unless __MODULE__ in :gen_event.which_handlers(server),
          do: :gen_event.swap_handler(server, {:erl_signal_handler, []}, {__MODULE__, []})

        :ok
    end
  end

  @impl true
  def init(_swapped), do: {:ok, nil}

  @impl true
  def handle_event(:sigterm, state) do
    Logger.info("SIGTERM received: stopping")
    Hudson.Desktop.StdinWatcher.stop_or_halt()
    {:ok, state}
  end

  def handle_event(signal, state), do: :erl_signal_handler.handle_event(signal, state)

  @impl true
  def handle_call(_request, state), do: {:ok, :ok, state}

  @impl true
  def handle_info(_message, state), do: {:ok, state}
end
