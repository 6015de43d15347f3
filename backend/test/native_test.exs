defmodule Hudson.NativeTest do
  # The real library from priv/native (built by `mix compile`): these fail if it did not load.
  use ExUnit.Case, async: true

  test "the hudson_nif library is loaded" do
    assert Hudson.Native.status() == :ok
  end

  test "secure_compare/2 compares bytes" do
    assert Hudson.Native.secure_compare("", "")
    assert Hudson.Native.secure_compare("0123abcd", "0123abcd")
    refute Hudson.Native.secure_compare("0123abcd", "0123abce")
    refute Hudson.Native.secure_compare("x123abcd", "0123abcd")
    refute Hudson.Native.secure_compare("0123abcd", "0123abc")
    refute Hudson.Native.secure_compare("", "a")
    assert Hudson.Native.secure_compare(<<0, 255, 7>>, <<0, 255, 7>>)
  end

  test "secure_compare/2 takes binaries only" do
    assert_raise ArgumentError, fn -> Hudson.Native.secure_compare(:a, "a") end
  end
end
