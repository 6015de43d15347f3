defmodule Hudson.Web.Server do
  @moduledoc """
  A minimal HTTP/1.1 server on `:gen_tcp`: listens on 127.0.0.1 only, one
  process per connection, one request per connection (`Connection: close`).
  Requests go to `Hudson.Web.Router`. A Phoenix app has Cowboy or Bandit here.

  Options: `:port` (0 = OS-chosen), `:name`, and the router context:
  `:secrets` (a zero-arity fun returning `%{token: _, session_id: _}`, so the
  secrets never appear in crash reports or logged start arguments),
  `:server_schema`, `:data_dir`, `:log_dir`, `:database` (the `Hudson.Database`
  the pages and `/healthz` use).
  """
  use GenServer
  require Logger

  alias Hudson.Web.{HTTP, Router}

  @max_connections 64

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, Keyword.take(opts, [:name]))

  @doc "The port actually bound."
  def port(server), do: GenServer.call(server, :port)

  @impl true
  def init(opts) do
    requested = Keyword.get(opts, :port, 0)
    # reuseaddr: connections closed by this server sit in TIME_WAIT for a
    # minute; without it they keep the port from being bound again.
    listen_opts = [
      :binary,
      packet: :http_bin,
      active: false,
      ip: {127, 0, 0, 1},
      backlog: 128,
      reuseaddr: true
    ]

    case :gen_tcp.listen(requested, listen_opts) do
      {:ok, listen} ->
        {:ok, port} = :inet.port(listen)
        {:ok, conns} = Task.Supervisor.start_link(max_children: @max_connections)
        ctx = opts |> Map.new() |> Map.put(:port, port) |> Map.delete(:name)
        acceptor = spawn_link(fn -> accept_loop(listen, conns, ctx) end)
        {:ok, %{listen: listen, port: port, acceptor: acceptor}}

      {:error, reason} ->
        Logger.error("cannot listen on 127.0.0.1:#{requested}: #{:inet.format_error(reason)}")
        {:stop, {:listen, reason}}
    end
  end

  @impl true
  def handle_call(:port, _from, state), do: {:reply, state.port, state}

  defp accept_loop(listen, conns, ctx) do
    case :gen_tcp.accept(listen) do
      {:ok, socket} ->
        # A closure, not {M, F, args}: a crash report would print args, secrets included.
        case Task.Supervisor.start_child(conns, fn -> serve(socket, ctx) end) do
          {:ok, pid} ->
            :ok = :gen_tcp.controlling_process(socket, pid)
            send(pid, :owned)

          {:error, _too_many} ->
            :gen_tcp.close(socket)
        end

        accept_loop(listen, conns, ctx)

      {:error, :closed} ->
        :ok

      {:error, reason} ->
        # Out of file descriptors and the like: back off instead of restarting on a new port.
        Logger.warning("accept failed: #{:inet.format_error(reason)}")
        Process.sleep(100)
        accept_loop(listen, conns, ctx)
    end
  end

  defp serve(socket, ctx) do
    receive do
      :owned -> :ok
    after
      5_000 -> exit(:normal)
    end

    case HTTP.read_request(socket) do
      {:ok, request} -> HTTP.send_response(socket, route(request, ctx))
      {:error, :bad_request} -> HTTP.send_response(socket, bad_request())
      {:error, _closed_or_timeout} -> :ok
    end

    :gen_tcp.close(socket)
  end

  defp bad_request, do: Router.text(400, "bad request\n")

  defp route(request, ctx) do
    Router.call(request, ctx)
  rescue
    e ->
      # The message only: the stacktrace's arguments could carry the token.
      Logger.error("#{request.method} #{request.path} failed: #{Exception.message(e)}")
      Router.text(500, "internal error\n")
  end
end
