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
             "nifs" => %{"hudson_nif" => "ok", "broken_nif" => BrokenNif.status()}
           }
  end

  test "update_required only for a server schema newer than the supported one" do
    assert Health.status(nil, 1) == "ok"
    assert Health.status(0, 1) == "ok"
    assert Health.status(1, 1) == "ok"
    assert Health.status(2, 1) == "update_required"
  end
end
