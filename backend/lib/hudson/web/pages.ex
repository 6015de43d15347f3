defmodule Hudson.Web.Pages do
  @moduledoc """
  The reference UI: just enough pages for the shell's tests (titles, a link to
  settings, one external link). No inline script or style: the CSP forbids both.
  """

  def home do
    page("Hudson", """
    <h1>Hudson</h1>
    <p>Version #{escape(Hudson.version())}</p>
    <p><a href="/settings">Settings</a></p>
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
