defmodule Hudson.Desktop.ConfigTest do
  use ExUnit.Case, async: true

  alias Hudson.Desktop.Config

  test "defaults: OS-chosen port, the pilot's handshake path, a generated token" do
    config = Config.from_env(%{})
    assert config.port == 0
    assert config.handshake_file == Path.join(System.tmp_dir!(), "hudson-handshake.json")
    assert config.token_generated?
    assert config.token =~ ~r/\A[0-9a-f]{64}\z/
    assert config.server_schema == nil
    refute config.ignore_stdin?
    refute Config.from_env(%{}).token == config.token
  end

  test "reads the contract's variables" do
    config =
      Config.from_env(%{
        "PORT" => "4123",
        "PHX_SERVER" => "true",
        "PHX_HOST" => "127.0.0.1",
        "HUDSON_HANDSHAKE_FILE" => "/run/x/hs.json",
        "HUDSON_HANDSHAKE_TOKEN" => "00ff",
        "HUDSON_DATA_DIR" => "/data",
        "HUDSON_LOG_DIR" => "/logs",
        "HUDSON_SERVER_SCHEMA" => "2",
        "HUDSON_IGNORE_STDIN" => "1"
      })

    assert %{port: 4123, handshake_file: "/run/x/hs.json", token: "00ff"} = config
    assert %{data_dir: "/data", log_dir: "/logs", server_schema: 2, ignore_stdin?: true} = config
    refute config.token_generated?
  end

  test "an empty variable counts as unset" do
    config = Config.from_env(%{"PORT" => "", "HUDSON_HANDSHAKE_TOKEN" => ""})
    assert config.port == 0
    assert config.token_generated?
  end

  test "bad numbers stop the start with the variable's name" do
    assert_raise ArgumentError, ~r/PORT/, fn -> Config.from_env(%{"PORT" => "http"}) end
    assert_raise ArgumentError, ~r/PORT/, fn -> Config.from_env(%{"PORT" => "70000"}) end

    assert_raise ArgumentError, ~r/HUDSON_SERVER_SCHEMA/, fn ->
      Config.from_env(%{"HUDSON_SERVER_SCHEMA" => "two"})
    end
  end

  test "the database file lives in the data folder; the writer test hook is an interval" do
    assert %{database_file: nil, db_writer_ms: nil} = Config.from_env(%{})

    assert %{database_file: "/data/db/hudson.sqlite3", db_writer_ms: 100} =
             Config.from_env(%{"HUDSON_DATA_DIR" => "/data", "HUDSON_TEST_DB_WRITER" => "100"})

    for bad <- ["9", "60001", "fast", "100ms"] do
      assert_raise ArgumentError, ~r/HUDSON_TEST_DB_WRITER .*10 to 60000/, fn ->
        Config.from_env(%{"HUDSON_TEST_DB_WRITER" => bad})
      end
    end
  end

  test "inspect never shows the token" do
    config = Config.from_env(%{"HUDSON_HANDSHAKE_TOKEN" => "secret0123456789"})
    refute inspect(config) =~ "secret0123456789"
  end

  test "strong_token?/1 wants at least 128 bits of hex" do
    assert Config.strong_token?(String.duplicate("a1", 16))
    refute Config.strong_token?("abcd")
    refute Config.strong_token?(String.duplicate("zz", 16))
  end
end
