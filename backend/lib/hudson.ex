defmodule Hudson do
  @moduledoc """
  The reference backend of Hudson Desktop: a small OTP-only application that
  implements the backend contract (docs/ARCHITECTURE.md) so the release
  toolchain and the desktop shell can be built and tested without the real
  Phoenix app. See README.md.
  """

  @doc "The application version, as reported in the handshake and `/healthz`."
  def version, do: :hudson |> Application.spec(:vsn) |> to_string()
end
