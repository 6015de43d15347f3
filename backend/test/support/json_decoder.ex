defmodule Hudson.Test.JSON do
  @moduledoc "A strict JSON decoder for tests, so they check documents, not strings."

  def decode!(text) do
    {value, rest} = value(skip(text))
    "" = skip(rest)
    value
  end

  defp value("{" <> rest), do: members(skip(rest), %{})
  defp value("[" <> rest), do: elements(skip(rest), [])
  defp value("\"" <> rest), do: string(rest, "")
  defp value("true" <> rest), do: {true, rest}
  defp value("false" <> rest), do: {false, rest}
  defp value("null" <> rest), do: {nil, rest}

  defp value(text) do
    [number | _] = Regex.run(~r/\A-?(0|[1-9][0-9]*)/, text)

    {String.to_integer(number),
     binary_part(text, byte_size(number), byte_size(text) - byte_size(number))}
  end

  defp members("}" <> rest, acc), do: {acc, rest}

  defp members(text, acc) do
    "\"" <> text = text
    {key, rest} = string(text, "")
    ":" <> rest = skip(rest)
    {value, rest} = value(skip(rest))
    false = Map.has_key?(acc, key)
    acc = Map.put(acc, key, value)

    case skip(rest) do
      "," <> rest -> members(skip(rest), acc)
      "}" <> rest -> {acc, rest}
    end
  end

  defp elements("]" <> rest, acc), do: {Enum.reverse(acc), rest}

  defp elements(text, acc) do
    {value, rest} = value(text)

    case skip(rest) do
      "," <> rest -> elements(skip(rest), [value | acc])
      "]" <> rest -> {Enum.reverse([value | acc]), rest}
    end
  end

  defp string("\"" <> rest, acc), do: {acc, rest}
  defp string("\\\"" <> rest, acc), do: string(rest, acc <> "\"")
  defp string("\\\\" <> rest, acc), do: string(rest, acc <> "\\")
  defp string("\\/" <> rest, acc), do: string(rest, acc <> "/")
  defp string("\\n" <> rest, acc), do: string(rest, acc <> "\n")
  defp string("\\r" <> rest, acc), do: string(rest, acc <> "\r")
  defp string("\\t" <> rest, acc), do: string(rest, acc <> "\t")
  defp string("\\b" <> rest, acc), do: string(rest, acc <> "\b")
  defp string("\\f" <> rest, acc), do: string(rest, acc <> "\f")

  defp string("\\u" <> <<hex::binary-4, rest::binary>>, acc),
    do: string(rest, acc <> <<String.to_integer(hex, 16)::utf8>>)

  defp string(<<c::utf8, rest::binary>>, acc) when c >= 0x20 and c != ?\\,
    do: string(rest, <<acc::binary, c::utf8>>)

  defp skip(<<c, rest::binary>>) when c in ~c" \t\r\n", do: skip(rest)
  defp skip(text), do: text
end
