defmodule Mix.Tasks.Compile.HudsonNif do
  @shortdoc "Builds the hudson_nif crate and places it in priv/native/"
  @moduledoc """
  Runs `cargo build --release -p hudson_nif` in the Cargo workspace that holds
  this Mix project (`..`) and copies the library to `priv/native/`, where
  `Hudson.Native` loads it from.

  Environment:

    * `HUDSON_SKIP_NIF_BUILD=1` - do nothing; the release orchestrator
      (`cargo xtask dist`) builds the library and places it itself.
    * `HUDSON_NIF_TARGET=<triple>` - pass `--target <triple>` and take the
      library from `<target dir>/<triple>/release/`.
    * `CARGO_TARGET_DIR` - honoured like cargo does; otherwise
      `<workspace root>/target`.

  Loaded by mix.exs and listed first in `compilers:`, so the library is in
  place before `Hudson.Native` is compiled (and its `@on_load` runs).
  """
  use Mix.Task.Compiler

  @crate "hudson_nif"

  @impl true
  def run(_args) do
    if System.get_env("HUDSON_SKIP_NIF_BUILD") == "1" do
      {:noop, []}
    else
      build()
    end
  end

  @impl true
  def clean, do: File.rm(destination(target()))

  defp build do
    cargo = System.find_executable("cargo") || Mix.raise(missing_cargo())
    root = workspace_root()
    target = target()
    # --quiet drops cargo's progress lines from every `mix compile`; errors still show.
    args = ["build", "--release", "--quiet", "-p", @crate]
    args = args ++ if(target, do: ["--target", target], else: [])

    case System.cmd(cargo, args, cd: root, stderr_to_stdout: true, into: IO.stream()) do
      {_, 0} ->
        :ok

      {_, status} ->
        Mix.raise("`cargo #{Enum.join(args, " ")}` in #{root} failed (exit #{status}); see above")
    end

    built = Path.join([target_dir(root), target || "", "release", library_name(target)])
    File.exists?(built) || Mix.raise("cargo succeeded but #{built} does not exist")
    install(built, destination(target))
  end

  # Write-then-rename: a running VM may have the old library mapped, and
  # overwriting it in place can crash that VM.
  defp install(built, dest) do
    if File.read(dest) == File.read(built) do
      {:noop, []}
    else
      File.mkdir_p!(Path.dirname(dest))
      tmp = dest <> ".tmp"
      File.cp!(built, tmp)
      File.rename!(tmp, dest)
      # Mix links priv/ into _build only if it existed when compilation began;
      # on a fresh checkout it did not.
      Mix.Project.build_structure()
      Mix.shell().info("Placed #{Path.relative_to_cwd(dest)}")
      {:ok, []}
    end
  end

  defp workspace_root do
    root = Path.expand("..", project_dir())

    File.exists?(Path.join(root, "Cargo.toml")) ||
      Mix.raise("expected the Cargo workspace (Cargo.toml) in #{root}, the parent of backend/")

    root
  end

  defp target_dir(root) do
    case System.get_env("CARGO_TARGET_DIR") do
      dir when dir in [nil, ""] -> Path.join(root, "target")
      # cargo resolves a relative CARGO_TARGET_DIR against its cwd, which is root.
      dir -> Path.expand(dir, root)
    end
  end

  defp target do
    case System.get_env("HUDSON_NIF_TARGET") do
      t when t in [nil, ""] -> nil
      t -> t
    end
  end

  defp library_name(target) do
    case os(target) do
      :windows -> "#{@crate}.dll"
      :macos -> "lib#{@crate}.dylib"
      :unix -> "lib#{@crate}.so"
    end
  end

  # :erlang.load_nif/2 appends .so on every Unix, macOS included; Windows uses .dll.
  defp destination(target) do
    name = if os(target) == :windows, do: "#{@crate}.dll", else: "lib#{@crate}.so"
    Path.join([project_dir(), "priv", "native", name])
  end

  defp project_dir, do: Path.dirname(Mix.Project.project_file())

  defp os(nil) do
    case :os.type() do
      {:win32, _} -> :windows
      {:unix, :darwin} -> :macos
      {:unix, _} -> :unix
    end
  end

  defp os(triple) do
    cond do
      String.contains?(triple, "windows") -> :windows
      String.contains?(triple, "apple") -> :macos
      true -> :unix
    end
  end

  defp missing_cargo do
    "cargo not found on PATH: install Rust (https://rustup.rs), or set " <>
      "HUDSON_SKIP_NIF_BUILD=1 and place priv/native/lib#{@crate}.so yourself"
  end
end
