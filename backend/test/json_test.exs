defmodule Hudson.JSONTest do
  use ExUnit.Case, async: true

  alias Hudson.JSON
  alias Hudson.Test.JSON, as: Decoder

  test "encodes the contract's values" do
    assert JSON.encode!([{"port", 4000}, {"ok", true}, {"bad", false}, {"none", nil}]) ==
             ~s({"port":4000,"ok":true,"bad":false,"none":null})

    assert JSON.encode!(%{"nifs" => %{"hudson_nif" => "ok"}}) == ~s({"nifs":{"hudson_nif":"ok"}})
    assert JSON.encode!(%{a: -1}) == ~s({"a":-1})
  end

  test "keyword-style lists keep their order" do
    assert JSON.encode!([{"z", 1}, {"a", 2}]) == ~s({"z":1,"a":2})
  end

  test "escapes strings so any text round-trips" do
    for text <- [
          "plain",
          ~s(quote " and \\ backslash),
          "line\nbreak\r\ttab",
          <<1, 31, 127>>,
          "héllo — ✓",
          "</script>"
        ] do
      encoded = JSON.encode!(%{"s" => text})
      refute encoded =~ ~r/[\x00-\x1f]/
      assert Decoder.decode!(encoded) == %{"s" => text}
    end
  end

  test "refuses what it cannot encode" do
    assert_raise ArgumentError, fn -> JSON.encode!(%{"s" => <<0xFF>>}) end
    assert_raise ArgumentError, fn -> JSON.encode!(%{"f" => 1.5}) end
    assert_raise ArgumentError, fn -> JSON.encode!({:tuple}) end
  end

  test "encode writes ASCII only: non-ASCII as \\u escapes, surrogate pairs above U+FFFF" do
    assert JSON.encode!(%{"v" => "é€😀"}) == ~S({"v":"\u00E9\u20AC\uD83D\uDE00"})
  end

  test "decode reads what encode writes, escapes included, and refuses the rest" do
    doc = [{"id", 7}, {"ok", true}, {"value", "a\"b\\c\nd\u0001é😀"}, {"error", nil}]

    assert JSON.decode(JSON.encode!(doc)) ==
             {:ok, %{"id" => 7, "ok" => true, "value" => "a\"b\\c\nd\u0001é😀", "error" => nil}}

    assert JSON.decode(~s( {"a": [1, -2, {"b": false}], "s": "\\ud83d\\ude00\\u00e9"} )) ==
             {:ok, %{"a" => [1, -2, %{"b" => false}], "s" => "😀é"}}

    for bad <- [
          "",
          "{",
          ~s({"a":}),
          ~s({"a":1,}),
          ~s("\\ud800"),
          ~s({"a":1} x),
          "1.5",
          <<?", 0xFF, ?">>
        ] do
      assert JSON.decode(bad) == {:error, :invalid}, inspect(bad)
    end
  end
end
