defmodule Hudson.JSON do
  @moduledoc """
  The JSON the backend contract needs, and no more: objects, strings, integers,
  booleans and null, both ways (`decode/1` reads the shell's storage answers). OTP 25 has no JSON module and the project takes no Hex
  packages; a Phoenix app uses Jason instead.

  Objects are maps (keys in map order) or keyword-style lists of `{key, value}`
  (keys in the given order, so documents read like the contract prints them).
  """

  @spec encode!(term) :: String.t()
  def encode!(value), do: value |> encode() |> IO.iodata_to_binary()

  defp encode(nil), do: "null"
  defp encode(true), do: "true"
  defp encode(false), do: "false"
  defp encode(n) when is_integer(n), do: Integer.to_string(n)
  defp encode(s) when is_binary(s), do: string(s)
  defp encode(a) when is_atom(a), do: a |> Atom.to_string() |> string()
  defp encode(map) when is_map(map), do: object(Map.to_list(map))
  defp encode([{_, _} | _] = pairs), do: object(pairs)
  defp encode(other), do: raise(ArgumentError, "cannot encode #{inspect(other)} as JSON")

  defp object(pairs) do
    members =
      Enum.map_intersperse(pairs, ",", fn {k, v} when is_binary(k) or is_atom(k) ->
        [encode(k), ":", encode(v)]
      end)

    ["{", members, "}"]
  end

  defp string(s) do
    String.valid?(s) || raise ArgumentError, "cannot encode invalid UTF-8 as JSON: #{inspect(s)}"
    [?", escape(s, ""), ?"]
  end

  defp escape(<<>>, acc), do: acc
  defp escape(<<?", rest::binary>>, acc), do: escape(rest, <<acc::binary, "\\\"">>)
  defp escape(<<?\\, rest::binary>>, acc), do: escape(rest, <<acc::binary, "\\\\">>)
  defp escape(<<?\n, rest::binary>>, acc), do: escape(rest, <<acc::binary, "\\n">>)
  defp escape(<<?\r, rest::binary>>, acc), do: escape(rest, <<acc::binary, "\\r">>)
  defp escape(<<?\t, rest::binary>>, acc), do: escape(rest, <<acc::binary, "\\t">>)

  defp escape(<<c, rest::binary>>, acc) when c < 0x20 do
    hex = c |> Integer.to_string(16) |> String.pad_leading(4, "0")
    escape(rest, <<acc::binary, "\\u", hex::binary>>)
  end

  # Non-ASCII as \\uXXXX (surrogate pairs above U+FFFF): the output is pure
  # ASCII, so it crosses any pipe or device whatever its encoding.
  defp escape(<<c::utf8, rest::binary>>, acc) when c > 0xFFFF do
    c = c - 0x10000

    escape(
      rest,
      <<acc::binary, u(0xD800 + div(c, 0x400))::binary, u(0xDC00 + rem(c, 0x400))::binary>>
    )
  end

  defp escape(<<c::utf8, rest::binary>>, acc) when c >= 0x80,
    do: escape(rest, <<acc::binary, u(c)::binary>>)

  defp escape(<<c, rest::binary>>, acc), do: escape(rest, <<acc::binary, c>>)

  defp u(c), do: "\\u" <> (c |> Integer.to_string(16) |> String.pad_leading(4, "0"))

  @doc """
  Decodes one JSON document of objects (as maps with string keys), arrays,
  strings, integers, booleans and null. Returns `{:error, :invalid}` for
  anything else, never raising on bad input.
  """
  @spec decode(binary) :: {:ok, term} | {:error, :invalid}
  def decode(text) when is_binary(text) do
    case value(skip(text)) do
      {:ok, value, rest} -> if skip(rest) == "", do: {:ok, value}, else: {:error, :invalid}
      :error -> {:error, :invalid}
    end
  end

  defp skip(<<c, rest::binary>>) when c in [?\s, ?\t, ?\n, ?\r], do: skip(rest)
  defp skip(rest), do: rest

  defp value("null" <> rest), do: {:ok, nil, rest}
  defp value("true" <> rest), do: {:ok, true, rest}
  defp value("false" <> rest), do: {:ok, false, rest}
  defp value(<<?", rest::binary>>), do: chars(rest, [])
  defp value(<<?{, rest::binary>>), do: members(skip(rest), %{})
  defp value(<<?[, rest::binary>>), do: elements(skip(rest), [])

  defp value(<<c, _::binary>> = text) when c == ?- or c in ?0..?9 do
    case Integer.parse(text) do
      {n, rest} -> {:ok, n, rest}
      :error -> :error
    end
  end

  defp value(_), do: :error

  defp members(<<?}, rest::binary>>, acc) when acc == %{}, do: {:ok, acc, rest}

  defp members(<<?", rest::binary>>, acc) do
    with {:ok, key, rest} <- chars(rest, []),
         <<?:, rest::binary>> <- skip(rest),
         {:ok, value, rest} <- value(skip(rest)) do
      case skip(rest) do
        <<?,, rest::binary>> -> members(skip(rest), Map.put(acc, key, value))
        <<?}, rest::binary>> -> {:ok, Map.put(acc, key, value), rest}
        _ -> :error
      end
    else
      _ -> :error
    end
  end

  defp members(_, _), do: :error

  defp elements(<<?], rest::binary>>, []), do: {:ok, [], rest}

  defp elements(text, acc) do
    with {:ok, value, rest} <- value(text) do
      case skip(rest) do
        <<?,, rest::binary>> -> elements(skip(rest), [value | acc])
        <<?], rest::binary>> -> {:ok, Enum.reverse([value | acc]), rest}
        _ -> :error
      end
    end
  end

  defp chars(<<?", rest::binary>>, acc) do
    string = IO.iodata_to_binary(Enum.reverse(acc))
    if String.valid?(string), do: {:ok, string, rest}, else: :error
  end

  defp chars(<<?\\, e, rest::binary>>, acc) when e in [?", ?\\, ?/],
    do: chars(rest, [e | acc])

  defp chars(<<?\\, ?n, rest::binary>>, acc), do: chars(rest, [?\n | acc])
  defp chars(<<?\\, ?r, rest::binary>>, acc), do: chars(rest, [?\r | acc])
  defp chars(<<?\\, ?t, rest::binary>>, acc), do: chars(rest, [?\t | acc])
  defp chars(<<?\\, ?b, rest::binary>>, acc), do: chars(rest, [?\b | acc])
  defp chars(<<?\\, ?f, rest::binary>>, acc), do: chars(rest, [?\f | acc])

  defp chars(<<?\\, ?u, a::binary-size(4), ?\\, ?u, b::binary-size(4), rest::binary>>, acc)
       when binary_part(a, 0, 1) in ["d", "D"] do
    with {hi, ""} when hi in 0xD800..0xDBFF <- hex4(a),
         {lo, ""} when lo in 0xDC00..0xDFFF <- hex4(b) do
      chars(rest, [<<0x10000 + (hi - 0xD800) * 0x400 + (lo - 0xDC00)::utf8>> | acc])
    else
      _ -> :error
    end
  end

  defp chars(<<?\\, ?u, a::binary-size(4), rest::binary>>, acc) do
    case hex4(a) do
      {n, ""} when n not in 0xD800..0xDFFF -> chars(rest, [<<n::utf8>> | acc])
      _ -> :error
    end
  end

  defp chars(<<c, _::binary>>, _acc) when c < 0x20 or c == ?\\, do: :error

  defp chars(<<c, rest::binary>>, acc), do: chars(rest, [c | acc])
  defp chars(<<>>, _acc), do: :error

  # Exactly four hex digits (Integer.parse alone would take "-001").
  defp hex4(text) do
    if text =~ ~r/\A[0-9A-Fa-f]{4}\z/, do: Integer.parse(text, 16), else: :error
  end
end
