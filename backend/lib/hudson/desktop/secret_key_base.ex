defmodule Hudson.Desktop.SecretKeyBase do
  @moduledoc """
  The app's `secret_key_base`: 64 random bytes from the VM's CSPRNG, created on
  the first launch and kept in the OS store through `Hudson.SecureStorage`
  (never in a file or the environment), then reused on every launch. Loaded
  once, on first use, and held in memory.

  Without a secure store it fails closed: a key for this run only, nothing
  written anywhere, and `status/0` says why. In a Phoenix app, call `fetch/0`
  from the endpoint's `init/2` callback instead of reading `SECRET_KEY_BASE`.
  """
  use GenServer
  require Logger

  @entry "secret_key_base"

  def start_link(opts \\ []), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @doc "The key (64 bytes). The first call loads or creates it."
  @spec fetch() :: binary
  def fetch do
    case :persistent_term.get(__MODULE__, nil) do
      {key, _status} -> key
      # Each storage call answers within 70 s; a first run makes two.
      nil -> GenServer.call(__MODULE__, :fetch, :infinity)
    end
  end

  @doc "`:stored` (created now), `:loaded`, `{:this_run_only, reason}`, or `:not_loaded`."
  def status do
    case :persistent_term.get(__MODULE__, nil) do
      {_key, status} -> status
      nil -> :not_loaded
    end
  end

  @impl true
  def init(opts), do: {:ok, Keyword.get(opts, :storage, Hudson.SecureStorage)}

  @impl true
  def handle_call(:fetch, _from, storage) do
    # Serialised here: two first requests never create two keys.
    {key, status} =
      case :persistent_term.get(__MODULE__, nil) do
        nil -> load(storage)
        loaded -> loaded
      end

    :persistent_term.put(__MODULE__, {key, status})
    {:reply, key, storage}
  end

  defp load(storage) do
    case Hudson.SecureStorage.get(@entry, storage) do
      {:ok, encoded} ->
        case Base.decode64(encoded) do
          {:ok, key} when byte_size(key) >= 64 -> {key, :loaded}
          _ -> this_run_only(:unreadable)
        end

      {:error, :not_found} ->
        key = :crypto.strong_rand_bytes(64)

        case Hudson.SecureStorage.put(@entry, Base.encode64(key), storage) do
          :ok ->
            Logger.info("created secret_key_base in the secure store")
            {key, :stored}

          {:error, reason} ->
            this_run_only(reason)
        end

      {:error, reason} ->
        this_run_only(reason)
    end
  end

  defp this_run_only(reason) do
    Logger.warning(
      "secret_key_base: no secure store (#{reason}); using a key for this run only, " <>
        "so sessions end when the app quits"
    )

    {:crypto.strong_rand_bytes(64), {:this_run_only, reason}}
  end
end
