defmodule Hudson.SecureStorageTest do
  use ExUnit.Case, async: true

  alias Hudson.SecureStorage

  # The shell's side, played by the test: read the request frames the
  # storage wrote to its device, answer them as the shell would.
  defp start(enabled \\ true) do
    {:ok, device} = StringIO.open("")
    name = :"storage_#{System.unique_integer([:positive])}"
    start_supervised!({SecureStorage, name: name, enabled: enabled, device: device})
    {name, device}
  end

  defp requests(device) do
    {_, written} = StringIO.contents(device)

    for <<0x1E, json::binary>> <- String.split(written, "\n", trim: true) do
      {:ok, request} = Hudson.JSON.decode(json)
      request
    end
  end

  defp answer(name, fields),
    do: SecureStorage.deliver(<<0x1E>> <> Hudson.JSON.encode!(fields) <> "\n", name)

  test "requests are framed lines with ids, and answers in any order reach their callers" do
    {name, device} = start()
    put = Task.async(fn -> SecureStorage.put("openai_api_key", "sk-line\nbreak", name) end)
    get = Task.async(fn -> SecureStorage.get("shopify_token", name) end)
    Process.sleep(100)
    [first, second] = Enum.sort_by(requests(device), & &1["id"])
    by_op = Map.new([first, second], &{&1["op"], &1})
    assert by_op["put"]["value"] == "sk-line\nbreak"
    refute Map.has_key?(by_op["get"], "value")

    answer(name, [{"id", by_op["get"]["id"]}, {"ok", true}, {"value", "shpat_x"}])
    answer(name, [{"id", by_op["put"]["id"]}, {"ok", true}])
    assert Task.await(get) == {:ok, "shpat_x"}
    assert Task.await(put) == :ok
  end

  test "errors map to reasons and the message is kept for the UI" do
    {name, device} = start()
    call = Task.async(fn -> SecureStorage.get("k", name) end)
    Process.sleep(50)
    [%{"id" => id}] = requests(device)
    answer(name, [{"id", 999}, {"ok", true}])

    answer(name, [
      {"id", nil},
      {"ok", false},
      {"error", [{"code", "malformed"}, {"message", "x"}]}
    ])

    SecureStorage.deliver(<<0x1E, "{not json\n">>, name)

    message = "no secure store is available; install gnome-keyring"

    answer(name, [
      {"id", id},
      {"ok", false},
      {"error", [{"code", "unavailable"}, {"message", message}]}
    ])

    assert Task.await(call) == {:error, :unavailable}
    assert SecureStorage.last_error(name) == message
  end

  test "bad keys and values are refused before anything is sent" do
    {name, device} = start()
    assert SecureStorage.get("", name) == {:error, :invalid_key}
    assert SecureStorage.put("a b", "v", name) == {:error, :invalid_key}
    assert SecureStorage.put("k", String.duplicate("x", 65_537), name) == {:error, :too_large}
    assert SecureStorage.put("k", <<0xFF>>, name) == {:error, :invalid_value}
    assert requests(device) == []
  end

  test "without the shell every call is unavailable and nothing is written" do
    {name, device} = start(false)
    assert SecureStorage.put("k", "v", name) == {:error, :unavailable}
    assert SecureStorage.last_error(name) =~ "not started by the Hudson desktop shell"
    assert StringIO.contents(device) == {"", ""}
  end

  test "the stdin reader hands answer lines to the storage and drops the rest" do
    {name, device} = start()
    call = Task.async(fn -> SecureStorage.delete("k", name) end)
    Process.sleep(50)
    [%{"id" => id}] = requests(device)
    {:ok, stdin} = StringIO.open("noise\n" <> <<0x1E>> <> ~s({"id":#{id},"ok":true}) <> "\n")
    test = self()

    start_supervised!(
      {Hudson.Desktop.StdinWatcher,
       device: stdin, storage: name, on_eof: fn -> send(test, :eof) end}
    )

    assert Task.await(call) == :ok
    assert_receive :eof
  end
end
