defmodule Hudson.MixProject do
  use Mix.Project

  def project do
    [
      app: :hudson,
      # The app version. The workspace Cargo.toml and src-tauri/tauri.conf.json say
      # the same; `cargo xtask dist` parses this line and stops when they disagree.
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      elixirc_paths: elixirc_paths(Mix.env()),
      # After :elixir, so the compiler in lib/mix/tasks is compiled before it runs.
      compilers: Mix.compilers() ++ [:hudson_nif],
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
