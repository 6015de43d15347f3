defmodule Hudson.Web.ServerTest do
  # The whole desktop wiring (server + handshake) in this VM, over real sockets.
  use ExUnit.Case, async: true

  import Hudson.Test.HTTP
  alias Hudson.Desktop.Config

  @moduletag :tmp_dir

  @csp "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

  defp start_backend(dir, env \\ %{}) do
    token = Hudson.Test.BackendProcess.token()
    file = Path.join(dir, "hs.json")

    config =
      %{"HUDSON_HANDSHAKE_FILE" => file, "HUDSON_HANDSHAKE_TOKEN" => token, "PORT" => "0"}
      |> Map.merge(env)
      |> Config.from_env()

    name = :"hudson_server_#{System.unique_integer([:positive])}"
    database = :"#{name}_database"
    {:ok, device} = StringIO.open("")

    children =
      Hudson.Desktop.children(config,
        name: name,
        database: database,
        device: device,
        watch_stdin: false
      )

    start_supervised!(%{
      id: name,
      type: :supervisor,
      start: {Supervisor, :start_link, [children, [strategy: :rest_for_one]]}
    })

    port = Hudson.Web.Server.port(name)
    %{port: port, token: token, file: file, device: device, database: database}
  end

  defp enter(port, token) do
    response = get(port, "/desktop/enter?token=#{token}")
    assert response.status == 303
    [cookie] = header(response, "set-cookie")
    cookie |> String.split(";") |> hd()
  end

  describe "handshake" do
    test "written once the server listens, echoing the token and this VM's pid", %{tmp_dir: dir} do
      %{port: port, token: token, file: file, device: device} = start_backend(dir)

      assert Hudson.Test.JSON.decode!(File.read!(file)) == %{
               "port" => port,
               "token" => token,
               "pid" => String.to_integer(System.pid()),
               "version" => "0.1.0"
             }

      assert Bitwise.band(File.stat!(file).mode, 0o777) == 0o600
      assert File.ls!(dir) == ["hs.json"]
      assert StringIO.contents(device) == {"", "PORT:#{port}\n"}
    end
  end

  describe "/healthz" do
    test "reports ok, the version, the OS pid and a loaded NIF", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      response = get(port, "/healthz")

      assert response.status == 200
      assert header(response, "content-type") == ["application/json"]
      assert header(response, "cache-control") == ["no-store"]

      doc = Hudson.Test.JSON.decode!(response.body)

      assert Map.drop(doc, ["checks", "erts"]) == %{
               "status" => "ok",
               "version" => "0.1.0",
               "pid" => String.to_integer(System.pid()),
               "nifs" => %{"hudson_nif" => "ok"}
             }

      assert doc["checks"]["nif"]["status"] == "ok"
      assert doc["checks"]["uptime"]["detail"] =~ ~r/^up \d+ s$/
    end

    test "says update_required when HUDSON_SERVER_SCHEMA is above 1", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir, %{"HUDSON_SERVER_SCHEMA" => "2"})

      assert %{"status" => "update_required"} =
               Hudson.Test.JSON.decode!(get(port, "/healthz").body)
    end

    test "stays ok for HUDSON_SERVER_SCHEMA=1", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir, %{"HUDSON_SERVER_SCHEMA" => "1"})
      assert %{"status" => "ok"} = Hudson.Test.JSON.decode!(get(port, "/healthz").body)
    end
  end

  describe "Host check" do
    test "refuses foreign hosts, wrong ports and a missing Host on every route", %{tmp_dir: dir} do
      %{port: port, token: token} = start_backend(dir)

      for path <- [
            "/healthz",
            "/desktop/enter?token=#{token}",
            "/",
            "/settings",
            "/cache",
            "/nope"
          ],
          host <- ["evil.example:#{port}", "127.0.0.1:#{port + 1}", "localhost", "127.0.0.1", nil] do
        response = get(port, path, host: host)
        assert response.status == 421, "#{path} with Host #{inspect(host)}: #{response.status}"
        assert header(response, "set-cookie") == []
      end
    end

    test "accepts 127.0.0.1:PORT and localhost:PORT", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      assert get(port, "/healthz", host: "127.0.0.1:#{port}").status == 200
      assert get(port, "/healthz", host: "localhost:#{port}").status == 200
    end

    test "refuses two Host headers even if one is right", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      response = get(port, "/healthz", headers: [{"Host", "evil.example:#{port}"}])
      assert response.status == 421
    end
  end

  describe "enter and session cookie" do
    test "the UI needs the cookie that only the right token gets", %{tmp_dir: dir} do
      %{port: port, token: token} = start_backend(dir)

      for path <- ["/", "/settings"] do
        response = get(port, path)
        assert response.status == 403
        assert response.body =~ "desktop app"
      end

      wrong = get(port, "/desktop/enter?token=#{String.duplicate("0", byte_size(token))}")
      assert wrong.status == 403
      assert header(wrong, "set-cookie") == []
      assert get(port, "/desktop/enter").status == 403
      assert get(port, "/desktop/enter?token=").status == 403

      entered = get(port, "/desktop/enter?token=#{token}", host: "localhost:#{port}")
      assert entered.status == 303
      assert header(entered, "location") == ["/"]
      [set_cookie] = header(entered, "set-cookie")

      assert set_cookie =~
               ~r/\Ahudson_session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict\z/

      refute set_cookie =~ token

      cookie = set_cookie |> String.split(";") |> hd()
      home = get(port, "/", headers: [{"Cookie", "theme=dark; " <> cookie}])
      assert home.status == 200
      assert home.body =~ "<title>Hudson</title>"
      assert home.body =~ "0.1.0"
      assert home.body =~ ~s(href="/settings")
      assert home.body =~ ~s(<a id="external-link" href="https://hudson.example/">)
      assert header(home, "content-security-policy") == [@csp]
      assert header(home, "x-frame-options") == ["DENY"]
      assert header(home, "cache-control") == ["no-store"]

      settings = get(port, "/settings", headers: [{"Cookie", cookie}])
      assert settings.status == 200
      assert settings.body =~ "<title>Hudson — Settings</title>"
    end

    test "a cookie from another boot does not open the UI", %{tmp_dir: dir} do
      a = start_backend(Path.join(dir, "a") |> tap(&File.mkdir!/1))
      b = start_backend(Path.join(dir, "b") |> tap(&File.mkdir!/1))
      cookie = enter(a.port, a.token)
      assert get(a.port, "/", headers: [{"Cookie", cookie}]).status == 200
      assert get(b.port, "/", headers: [{"Cookie", cookie}]).status == 403
      assert get(b.port, "/desktop/enter?token=#{a.token}").status == 403
    end

    test "HTML refusals carry the security headers too", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      response = get(port, "/")
      assert header(response, "content-security-policy") == [@csp]
      assert header(response, "x-frame-options") == ["DENY"]
      assert header(response, "cache-control") == ["no-store"]
    end
  end

  describe "other requests" do
    test "unknown paths are 404, other methods 405, all no-store", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      assert %{status: 404} = response = get(port, "/favicon.ico")
      assert header(response, "cache-control") == ["no-store"]
      assert %{status: 405} = response = request(port, "/healthz", method: "POST")
      assert header(response, "allow") == ["GET"]
    end

    test "a malformed request line gets 400", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      {:ok, socket} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false])
      :ok = :gen_tcp.send(socket, "NONSENSE\r\n\r\n")
      assert {:ok, "HTTP/1.1 400 " <> _} = :gen_tcp.recv(socket, 0, 5_000)
      :gen_tcp.close(socket)
    end

    test "listens on 127.0.0.1 only", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)
      {:ok, addrs} = :inet.getifaddrs()

      others =
        for {_, opts} <- addrs, {:addr, {_, _, _, _} = ip} <- opts, ip != {127, 0, 0, 1}, do: ip

      for ip <- others do
        assert {:error, _} = :gen_tcp.connect(ip, port, [:binary], 1_000)
      end
    end
  end

  describe "the database: /healthz check and the cache page" do
    defp checks(port) do
      doc = Hudson.Test.JSON.decode!(get(port, "/healthz").body)
      doc["checks"]
    end

    test "/healthz reports the database migrated, with its schema", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir, %{"HUDSON_DATA_DIR" => dir})
      check = checks(port)["database"]
      assert check["status"] == "ok"
      latest = Hudson.Database.Migrations.latest()
      assert check["detail"] == "schema #{latest}; 0 cache entries; db/hudson.sqlite3 (WAL)"
      assert Regex.run(~r/schema (\d+)/, check["detail"]) |> List.last() == "#{latest}"
      assert File.exists?(Path.join(dir, "db/hudson.sqlite3-wal"))
    end

    test "/healthz reports the database down, with why, without a data folder", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir)

      assert %{"status" => "down", "detail" => "HUDSON_DATA_DIR is not set: no database"} =
               checks(port)["database"]

      # Informational: the backend itself is fine.
      assert get(port, "/healthz").status == 200
    end

    test "GET /cache needs the session and shows the schema and a form", %{tmp_dir: dir} do
      %{port: port, token: token} = start_backend(dir, %{"HUDSON_DATA_DIR" => dir})
      assert get(port, "/cache").status == 403
      assert get(port, "/cache", host: "evil.example:#{port}").status == 421

      cookie = enter(port, token)
      home = get(port, "/", headers: [{"Cookie", cookie}])
      assert home.body =~ ~s(<a id="cache-link" href="/cache">)

      page = get(port, "/cache", headers: [{"Cookie", cookie}])
      assert page.status == 200
      assert page.body =~ "<title>Hudson — Cache</title>"
      latest = Hudson.Database.Migrations.latest()
      assert page.body =~ ~s(<span id="schema-version">#{latest}</span>)
      assert page.body =~ ~s(<table id="cache-entries">)

      for id <- ["cache-key", "cache-value", "cache-save"] do
        assert page.body =~ ~s(id="#{id}"), "no ##{id}"
      end

      assert header(page, "content-security-policy") == [@csp]
      refute page.body =~ "<script"
      refute page.body =~ "<style"
      refute page.body =~ "style="
    end

    test "POST /cache stores an entry that GET /cache shows, escaped", %{tmp_dir: dir} do
      %{port: port, token: token, database: database} =
        start_backend(dir, %{"HUDSON_DATA_DIR" => dir})

      cookie = enter(port, token)
      origin = {"Origin", "http://127.0.0.1:#{port}"}
      value = ~s(<b>"fish" & 'chips'</b>)

      saved =
        post_form(port, "/cache", [{"key", "k<1>"}, {"value", value}],
          headers: [{"Cookie", cookie}, origin]
        )

      assert saved.status == 303
      assert header(saved, "location") == ["/cache?saved"]
      assert Hudson.Database.get("k<1>", database) == {:ok, value}

      page = get(port, "/cache?saved", headers: [{"Cookie", cookie}])
      assert page.body =~ ~s(<p id="cache-notice">Saved.</p>)

      assert page.body =~
               "<tr><td>k&lt;1&gt;</td><td>&lt;b&gt;&quot;fish&quot; &amp; &#39;chips&#39;&lt;/b&gt;</td><td>0.1.0</td></tr>"

      refute page.body =~ value

      assert %{"status" => "ok", "detail" => "schema 1; 1 cache entry; " <> _} =
               checks(port)["database"]
    end

    test "POST /cache refusals: no session, another origin, too large, missing fields", %{
      tmp_dir: dir
    } do
      %{port: port, token: token, database: database} =
        start_backend(dir, %{"HUDSON_DATA_DIR" => dir})

      cookie = enter(port, token)
      origin = {"Origin", "http://localhost:#{port}"}
      form = [{"key", "k"}, {"value", "v"}]

      assert post_form(port, "/cache", form, headers: [origin]).status == 403

      assert post_form(port, "/cache", form,
               headers: [{"Cookie", cookie}, {"Origin", "http://evil.example"}]
             ).status == 403

      assert post_form(port, "/cache", form, headers: [{"Cookie", cookie}]).status == 403
      assert Hudson.Database.list(database) == {:ok, []}

      big =
        post_form(port, "/cache", [{"key", "k"}, {"value", String.duplicate("x", 65_537)}],
          headers: [{"Cookie", cookie}, origin]
        )

      assert big.status == 303
      ["/cache?error=" <> reason] = header(big, "location")

      assert URI.decode_www_form(reason) ==
               "the value is 65537 bytes; at most 65536 bytes are stored"

      shown = get(port, "/cache?error=" <> reason, headers: [{"Cookie", cookie}])
      assert shown.body =~ "Not saved: the value is 65537 bytes"

      missing = post_form(port, "/cache", [{"key", "k"}], headers: [{"Cookie", cookie}, origin])

      assert ["/cache?error=the+form+needs+the+fields+key+and+value"] =
               header(missing, "location")

      assert Hudson.Database.list(database) == {:ok, []}
    end

    test "other methods on /cache are 405", %{tmp_dir: dir} do
      %{port: port} = start_backend(dir, %{"HUDSON_DATA_DIR" => dir})
      response = request(port, "/cache", method: "DELETE")
      assert response.status == 405
      assert header(response, "allow") == ["GET, POST"]
    end

    test "without a database the page says why and saving fails", %{tmp_dir: dir} do
      %{port: port, token: token} = start_backend(dir)
      cookie = enter(port, token)
      page = get(port, "/cache", headers: [{"Cookie", cookie}])
      assert page.status == 200
      assert page.body =~ ~s(<span id="schema-version">unknown</span>)
      assert page.body =~ "HUDSON_DATA_DIR is not set: no database"

      saved =
        post_form(port, "/cache", [{"key", "k"}, {"value", "v"}],
          headers: [{"Cookie", cookie}, {"Origin", "http://127.0.0.1:#{port}"}]
        )

      assert ["/cache?error=" <> _] = header(saved, "location")
    end
  end
end
