defmodule Hudson.Desktop.HealthTest do
  use ExUnit.Case, async: true

  alias Hudson.Desktop.Health

  defmodule BrokenNif do
    def nif_name, do: "broken_nif"
    def status, do: "load_failed: libbroken_nif.so: cannot open shared object file"
  end

  test "reports status, version, the OS pid and every NIF" do
    health = Map.new(Health.build(version: "0.1.0", nifs: [Hudson.Native, BrokenNif]))

    assert health == %{
             "status" => "ok",
             "version" => "0.1.0",
             "pid" => String.to_integer(System.pid()),
             "nifs" => %{"hudson_nif" => "ok", "broken_nif" => BrokenNif.status()},
             "erts" => "erts-#{:erlang.system_info(:version)}"
           }
  end

  test "update_required only for a server schema newer than the supported one" do
    assert Health.status(nil, 1) == "ok"
    assert Health.status(0, 1) == "ok"
    assert Health.status(1, 1) == "ok"
    assert Health.status(2, 1) == "update_required"
  end

  test "named checks: timed, and a raise or a down result reports down with its detail" do
    checks = [
      {"db", fn -> :ok end},
      {"shopify", fn -> {:degraded, "slow: 900 ms"} end},
      {"openai", fn -> {:down, "connection refused"} end},
      {"broken", fn -> raise "boom" end}
    ]

    health = Map.new(Health.build(version: "0.1.0", checks: checks))
    found = Map.new(health["checks"], fn {name, fields} -> {name, Map.new(fields)} end)
    assert found["db"]["status"] == "ok"

    assert found["shopify"] == %{
             "status" => "degraded",
             "detail" => "slow: 900 ms",
             "latency_ms" => found["shopify"]["latency_ms"]
           }

    assert found["openai"]["detail"] == "connection refused"
    assert %{"status" => "down", "detail" => "boom"} = found["broken"]
    assert Enum.all?(Map.values(found), &is_integer(&1["latency_ms"]))
    refute Map.has_key?(Map.new(Health.build(version: "0.1.0")), "checks")
  end

  @tag :tmp_dir
  test "the reference checks report a writable data folder, the NIF and the uptime", %{
    tmp_dir: dir
  } do
    found =
      Map.new(Health.reference_checks(dir), fn {name, fun} -> {name, Health.run_check(fun)} end)

    assert Keyword.get(
             Enum.map(found["data_folder"], fn {k, v} -> {String.to_atom(k), v} end),
             :status
           ) == "ok"

    assert File.ls!(dir) == [], "the probe file was left behind"

    missing =
      Health.run_check(fn ->
        elem(hd(Health.reference_checks(Path.join(dir, "no/such"))), 1).()
      end)

    assert {"status", "down"} in missing
  end
end
