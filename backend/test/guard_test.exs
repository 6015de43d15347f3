defmodule Hudson.Desktop.GuardTest do
  use ExUnit.Case, async: true

  alias Hudson.Desktop.Guard

  test "host_allowed?/2 takes exactly one loopback Host with this port" do
    assert Guard.host_allowed?(["127.0.0.1:4000"], 4000)
    assert Guard.host_allowed?(["localhost:4000"], 4000)
    refute Guard.host_allowed?(["evil.example:4000"], 4000)
    refute Guard.host_allowed?(["localhost:4001"], 4000)
    refute Guard.host_allowed?(["localhost"], 4000)
    refute Guard.host_allowed?(["127.0.0.1"], 4000)
    refute Guard.host_allowed?(["[::1]:4000"], 4000)
    refute Guard.host_allowed?(["localhost.evil.example:4000"], 4000)
    refute Guard.host_allowed?([], 4000)
    refute Guard.host_allowed?(["localhost:4000", "evil.example:4000"], 4000)
  end

  test "token_valid?/2" do
    assert Guard.token_valid?("abcd", "abcd")
    refute Guard.token_valid?("abce", "abcd")
    refute Guard.token_valid?("", "abcd")
    refute Guard.token_valid?(nil, "abcd")
  end

  test "session_valid?/2 finds the cookie among others and in any Cookie header" do
    id = Guard.new_session_id()
    assert Guard.session_valid?(["hudson_session=#{id}"], id)
    assert Guard.session_valid?(["a=1; hudson_session=#{id}; b=2"], id)
    assert Guard.session_valid?(["a=1", "hudson_session=#{id}"], id)
    refute Guard.session_valid?(["hudson_session=#{Guard.new_session_id()}"], id)
    refute Guard.session_valid?(["other_session=#{id}"], id)
    refute Guard.session_valid?(["hudson_session="], id)
    refute Guard.session_valid?([], id)
  end

  test "session ids are random and cookie-safe" do
    id = Guard.new_session_id()
    assert id =~ ~r/\A[A-Za-z0-9_-]{43}\z/
    refute id == Guard.new_session_id()
  end

  test "session_cookie/1 is HttpOnly, SameSite=Strict, whole-site" do
    assert Guard.session_cookie("xyz") == "hudson_session=xyz; Path=/; HttpOnly; SameSite=Strict"
  end
end
