defmodule Hudson.Desktop.HandshakeTest do
  use ExUnit.Case, async: true

  alias Hudson.Desktop.Handshake

  @moduletag :tmp_dir

  defp announce(file, opts \\ []) do
    {:ok, device} = StringIO.open("")
    opts = Keyword.merge([file: file, token: "00aa11bb", version: "0.1.0", device: device], opts)
    :ok = Handshake.announce(4321, opts)
    {:ok, {"", printed}} = StringIO.close(device)
    printed
  end

  test "writes exactly port, token, pid and version, then prints PORT:", %{tmp_dir: dir} do
    file = Path.join(dir, "hs.json")
    assert announce(file) == "PORT:4321\n"

    pid = System.pid()
    assert File.read!(file) == ~s({"port":4321,"token":"00aa11bb","pid":#{pid},"version":"0.1.0"})

    assert Hudson.Test.JSON.decode!(File.read!(file)) == %{
             "port" => 4321,
             "token" => "00aa11bb",
             "pid" => String.to_integer(pid),
             "version" => "0.1.0"
           }
  end

  test "takes the token as a fun, so it stays out of crash reports", %{tmp_dir: dir} do
    file = Path.join(dir, "hs.json")
    announce(file, token: fn -> "cafe" end)
    assert File.read!(file) =~ ~s("token":"cafe")
  end

  test "the file is 0600 whatever the umask, and no temp file is left", %{tmp_dir: dir} do
    file = Path.join(dir, "hs.json")
    announce(file)
    assert Bitwise.band(File.stat!(file).mode, 0o777) == 0o600
    assert File.ls!(dir) == ["hs.json"]
  end

  test "replaces an older handshake by rename, never by rewriting it", %{tmp_dir: dir} do
    file = Path.join(dir, "hs.json")
    File.write!(file, "stale")
    %File.Stat{inode: before} = File.stat!(file)
    announce(file)
    assert File.read!(file) =~ ~s("port":4321)
    refute File.stat!(file).inode == before
    assert File.ls!(dir) == ["hs.json"]
  end

  test "a symlink at the handshake path is replaced, not followed", %{tmp_dir: dir} do
    victim = Path.join(dir, "victim")
    File.write!(victim, "keep me")
    file = Path.join(dir, "hs.json")
    File.ln_s!(victim, file)
    announce(file)
    assert File.read!(victim) == "keep me"
    assert {:ok, %File.Stat{type: :regular}} = File.lstat(file)
  end

  test "a missing directory fails with the path in the message", %{tmp_dir: dir} do
    file = Path.join([dir, "missing", "hs.json"])
    assert_raise RuntimeError, ~r/cannot write handshake file .*missing/, fn -> announce(file) end
    assert File.ls!(dir) == []
  end
end
