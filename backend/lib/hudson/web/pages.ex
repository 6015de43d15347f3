defmodule Hudson.Web.Pages do
  @moduledoc """
  The reference UI: just enough pages for the shell's tests (titles, a link to
  settings, one external link) and the local database's cache page. No inline
  script or style: the CSP forbids both.
  """

  def home do
    page("Hudson", """
    <h1>Hudson</h1>
    <p>Version #{escape(Hudson.version())}</p>
    <p><a href="/settings">Settings</a></p>
    <p><a id="cache-link" href="/cache">Cache</a> (the local database)</p>
    <p><a id="external-link" href="https://hudson.example/">hudson.example</a></p>
    """)
  end

  @doc "`credential`: `{:stored, value}`, `:not_set` or `{:error, reason, message}`."
  def settings(ctx, credential) do
    page("Hudson — Settings", """
    <h1>Settings</h1>
    <dl>
      <dt>Version</dt><dd>#{escape(Hudson.version())}</dd>
      <dt>Data folder</dt><dd>#{escape(ctx[:data_dir] || "(not set)")}</dd>
      <dt>Log folder</dt><dd>#{escape(ctx[:log_dir] || "(not set)")}</dd>
    </dl>
    <h2>OpenAI API key</h2>
    #{credential_html(credential)}
    <form method="post" action="/settings/credential">
      <input type="password" name="value" id="credential-value" autocomplete="off">
      <button type="submit" id="credential-save">Save</button>
      <button type="submit" name="delete" value="1" id="credential-delete">Remove</button>
    </form>
    <p><a href="/">Back</a></p>
    """)
  end

  # Masked: the last four characters of a long value, dots otherwise.
  defp credential_html({:stored, value}) do
    shown =
      if String.length(value) >= 16,
        do: "••••••••" <> String.slice(value, -4, 4),
        else: "••••••••"

    ~s(<p id="credential">Stored in your system's secure storage: <code>#{escape(shown)}</code></p>)
  end

  defp credential_html(:not_set), do: ~s(<p id="credential">Not set.</p>)

  defp credential_html({:error, reason, message}) do
    ~s(<p id="credential" class="error">Secure storage is not available \(#{reason}\): ) <>
      escape(message || "") <> "</p>"
  end

  # A page of 1 000 entries of 64 KiB each would be 64 MB: values are cut.
  @shown_value_chars 500

  @doc """
  The cache page. `status` and `entries` are what `Hudson.Database.status/1`
  and `Hudson.Database.list/1` answered; `notice` is `:saved`,
  `{:error, reason}` (from the redirect after a POST) or nil.
  """
  def cache(status, entries, notice) do
    page("Hudson — Cache", """
    <h1>Cache</h1>
    #{cache_notice(notice)}#{database_html(status)}
    #{entries_html(status, entries)}
    <h2>Store an entry</h2>
    <form method="post" action="/cache">
      <p><label for="cache-key">Key</label>
      <input type="text" name="key" id="cache-key" required autocomplete="off"></p>
      <p><label for="cache-value">Value</label>
      <textarea name="value" id="cache-value" rows="3"></textarea></p>
      <p><button type="submit" id="cache-save">Save</button></p>
    </form>
    <p><a href="/">Back</a></p>
    """)
  end

  defp cache_notice(:saved), do: ~s(<p id="cache-notice">Saved.</p>\n)

  defp cache_notice({:error, reason}),
    do: ~s(<p id="cache-notice" class="error">Not saved: #{escape(reason)}</p>\n)

  defp cache_notice(nil), do: ""

  defp database_html({:ok, %{schema: schema, entries: entries, path: path}}) do
    """
    <p>Schema version <span id="schema-version">#{schema}</span>;
    #{entries} #{if entries == 1, do: "entry", else: "entries"} in <code>#{escape(path)}</code></p>
    """
  end

  defp database_html({:error, reason}) do
    """
    <p>Schema version <span id="schema-version">unknown</span></p>
    <p id="database-error" class="error">The database is not available: #{escape(reason)}</p>
    """
  end

  defp entries_html(status, entries) do
    {rows, note} =
      case entries do
        {:ok, list} ->
          {list, shown_note(status, length(list))}

        # Already said above when the database is not available at all.
        {:error, _reason} when elem(status, 0) == :error ->
          {[], ""}

        {:error, reason} ->
          {[], "<p class=\"error\">Cannot list the entries: #{escape(reason)}</p>\n"}
      end

    body =
      for e <- rows do
        "<tr><td>#{escape(e.key)}</td><td>#{escape(shorten(e.value))}</td>" <>
          "<td>#{escape(e.written_by)}</td></tr>\n"
      end

    note <>
      """
      <table id="cache-entries">
      <thead><tr><th>Key</th><th>Value</th><th>Written by</th></tr></thead>
      <tbody>
      #{body}</tbody>
      </table>
      """
  end

  defp shown_note({:ok, %{entries: total}}, shown) when total > shown,
    do: "<p>The first #{shown} of #{total} entries, by key.</p>\n"

  defp shown_note(_status, _shown), do: ""

  defp shorten(value) do
    if String.length(value) > @shown_value_chars,
      do: String.slice(value, 0, @shown_value_chars) <> "…",
      else: value
  end

  def forbidden do
    page("Hudson — Not available", """
    <h1>Open Hudson from the desktop app</h1>
    <p>This page is served only to the Hudson desktop window.</p>
    """)
  end

  defp page(title, body) do
    """
    <!DOCTYPE html>
    <html lang="en">
    <head><meta charset="utf-8"><title>#{escape(title)}</title></head>
    <body>
    #{body}</body>
    </html>
    """
  end

  defp escape(text) do
    for <<c <- text>>, into: "" do
      case c do
        ?& -> "&amp;"
        ?< -> "&lt;"
        ?> -> "&gt;"
        ?" -> "&quot;"
        ?' -> "&#39;"
        c -> <<c>>
      end
    end
  end
end
