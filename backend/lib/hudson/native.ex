defmodule Hudson.Native do
  @moduledoc """
  The `hudson_nif` Rust library (backend/native/hudson_nif).

  Loading never fails the module: a missing or broken library leaves the stubs
  below in place and records why in `status/0`, so the backend still starts and
  `/healthz` reports the error; the desktop shell then shows its "installation
  damaged" page instead of a backend that dies before it can say anything.
  """
  @on_load :load_nif

  @doc "Name of the library as reported under `nifs` in `/healthz`."
  def nif_name, do: "hudson_nif"

  @doc "`:ok`, or why the library did not load."
  @spec status() :: :ok | String.t()
  def status, do: :persistent_term.get({__MODULE__, :status}, "not loaded")

  @doc "True when both binaries are equal, in time independent of their content."
  @spec secure_compare(binary, binary) :: boolean
  def secure_compare(_a, _b), do: :erlang.nif_error(:nif_not_loaded)

  @doc false
  def load_nif do
    status =
      try do
        case :erlang.load_nif(path(), 0) do
          :ok -> :ok
          {:error, {reason, text}} -> "#{reason}: #{text}"
          {:error, other} -> inspect(other)
        end
      rescue
        e -> Exception.message(e)
      end

    :persistent_term.put({__MODULE__, :status}, status)
    :ok
  end

  # load_nif/2 wants the path without extension: it appends .so (every Unix) or .dll.
  defp path do
    priv =
      case :code.priv_dir(:hudson) do
        {:error, reason} -> raise "no priv dir for :hudson (#{reason})"
        dir -> dir
      end

    file = if match?({:win32, _}, :os.type()), do: "hudson_nif", else: "libhudson_nif"
    priv |> Path.join("native/#{file}") |> String.to_charlist()
  end
end
