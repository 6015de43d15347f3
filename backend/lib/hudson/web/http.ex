defmodule Hudson.Web.HTTP do
  @moduledoc """
  Reads one request head from a socket in `packet: :http_bin` mode and writes
  one response. A POST's body (a settings form) is read up to `@max_body` bytes.
  """

  @timeout 10_000
  @max_headers 100
  # A form with one largest secret (64 KiB), percent-encoded.
  @max_body 3 * 65_536 + 1024

  @type request :: %{
          method: String.t(),
          path: String.t(),
          query: String.t(),
          headers: [{String.t(), String.t()}]
        }

  @doc "Header names come back lower-cased, in arrival order, repeats kept."
  @spec read_request(:gen_tcp.socket()) :: {:ok, request} | {:error, term}
  def read_request(socket) do
    case :gen_tcp.recv(socket, 0, @timeout) do
      # Origin-form only: an absolute URI would carry a second, unchecked host.
      {:ok, {:http_request, method, {:abs_path, target}, _version}} ->
        {path, query} =
          case String.split(target, "?", parts: 2) do
            [path, query] -> {path, query}
            [path] -> {path, ""}
          end

        with {:ok, headers} <- read_headers(socket, []),
             {:ok, body} <- read_body(socket, to_string(method), headers) do
          {:ok,
           %{method: to_string(method), path: path, query: query, headers: headers, body: body}}
        end

      {:ok, _other} ->
        {:error, :bad_request}

      {:error, reason} ->
        {:error, reason}
    end
  end

  defp read_headers(_socket, acc) when length(acc) > @max_headers, do: {:error, :bad_request}

  defp read_headers(socket, acc) do
    case :gen_tcp.recv(socket, 0, @timeout) do
      {:ok, {:http_header, _, name, _, value}} ->
        read_headers(socket, [{name |> to_string() |> String.downcase(), value} | acc])

      {:ok, :http_eoh} ->
        {:ok, Enum.reverse(acc)}

      {:ok, _error} ->
        {:error, :bad_request}

      {:error, reason} ->
        {:error, reason}
    end
  end

  defp read_body(socket, "POST", headers) do
    with [length] <- for({"content-length", v} <- headers, do: v) |> default_length(),
         {n, ""} when n in 0..@max_body <- Integer.parse(length) do
      :ok = :inet.setopts(socket, packet: :raw)
      if n == 0, do: {:ok, ""}, else: :gen_tcp.recv(socket, n, @timeout)
    else
      _ -> {:error, :bad_request}
    end
  end

  defp read_body(_socket, _method, _headers), do: {:ok, ""}

  defp default_length([]), do: ["0"]
  defp default_length(lengths), do: lengths

  @doc "All values of a (lower-case) header."
  def header_values(request, name), do: for({^name, v} <- request.headers, do: v)

  @doc "Sends `{status, headers, body}` with the headers every response carries."
  def send_response(socket, {status, headers, body}) do
    head = [
      "HTTP/1.1 #{status} #{reason(status)}\r\n",
      for({k, v} <- common_headers(body) ++ headers, do: [k, ": ", v, "\r\n"]),
      "\r\n"
    ]

    :gen_tcp.send(socket, [head, body])
  end

  defp common_headers(body) do
    [
      {"content-length", Integer.to_string(IO.iodata_length(body))},
      {"cache-control", "no-store"},
      {"x-content-type-options", "nosniff"},
      {"referrer-policy", "no-referrer"},
      {"connection", "close"}
    ]
  end

  defp reason(200), do: "OK"
  defp reason(303), do: "See Other"
  defp reason(400), do: "Bad Request"
  defp reason(403), do: "Forbidden"
  defp reason(404), do: "Not Found"
  defp reason(405), do: "Method Not Allowed"
  defp reason(421), do: "Misdirected Request"
  defp reason(500), do: "Internal Server Error"
end
