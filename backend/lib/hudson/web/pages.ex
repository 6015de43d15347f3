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

  def settings(ctx) do
    page("Hudson — Settings", """
    <h1>Settings</h1>
    <dl>
      <dt>Version</dt><dd>#{escape(Hudson.version())}</dd>
      <dt>Data folder</dt><dd>#{escape(ctx[:data_dir] || "(not set)")}</dd>
      <dt>Log folder</dt><dd>#{escape(ctx[:log_dir] || "(not set)")}</dd>
    </dl>
    <p><a href="/">Back</a></p>
    """)
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
