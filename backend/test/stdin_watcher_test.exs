defmodule Hudson.Desktop.StdinWatcherTest do
  use ExUnit.Case, async: true

  alias Hudson.Desktop.StdinWatcher

  test "reads and drops input, then acts on end-of-file" do
    {:ok, device} = StringIO.open("a line\nanother\nno newline")
    test = self()
    start_supervised!({StdinWatcher, device: device, on_eof: fn -> send(test, :eof) end})
    assert_receive :eof
    assert StringIO.contents(device) == {"", ""}
  end

  test "stays put while input is open" do
    # A device that never answers stands in for an open stdin nobody writes to.
    silent = spawn_link(fn -> Process.sleep(:infinity) end)
    test = self()
    start_supervised!({StdinWatcher, device: silent, on_eof: fn -> send(test, :eof) end})
    refute_receive :eof, 200
  end
end
