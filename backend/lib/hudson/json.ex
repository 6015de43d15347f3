defmodule Hudson.JSON do
  @moduledoc """
  The JSON the backend contract needs, and no more: objects, strings, integers,
  booleans and null. OTP 25 has no JSON module and the project takes no Hex
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

  defp escape(<<c, rest::binary>>, acc), do: escape(rest, <<acc::binary, c>>)
end
