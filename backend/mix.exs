# Outside lib/ so it runs before the app's code is compiled and is not shipped.
Code.require_file("mix/tasks/compile.hudson_nif.ex", __DIR__)

defmodule Hudson.MixProject do
  use Mix.Project

  def project do
    [
      app: :hudson,
      # The app version. The workspace Cargo.toml says the same under
      # [workspace.metadata.hudson]; `cargo xtask dist` parses this line and
      # stops when they disagree.
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      elixirc_paths: elixirc_paths(Mix.env()),
      # The NIF first: compiling Hudson.Native runs its @on_load in this VM, and
      # `mix test` then uses that loaded module, so the library must be in place.
      compilers: [:hudson_nif | Mix.compilers()],
      deps: [],
      releases: [hudson: []]
    ]
  end

  def application do
    [mod: {Hudson.Application, []}, extra_applications: [:logger, :crypto]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
end
