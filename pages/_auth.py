"""Optional sign-in (Streamlit's built-in OIDC login), off by default.

Sign-in is on when ``.streamlit/secrets.toml`` has an ``[auth]`` section (``redirect_uri``,
``cookie_secret``, ``client_id``, ``client_secret``, ``server_metadata_url`` of your identity
provider; see the README). Then the pages that save patients or designs ask the user to sign in,
and what a user saves belongs to them alone (the stores filter by owner). When it is off, the save
dialogs say plainly that everything saved is visible to anyone using this database.
"""

from __future__ import annotations

import streamlit as st

SHARED_NOTICE = "Sign-in is off: everything saved here is visible to anyone using this database."


def sign_in_enabled() -> bool:
    """True when an ``[auth]`` section is configured in Streamlit's secrets."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return False


def signed_in_identity() -> str | None:
    """The signed-in user's e-mail (else their OIDC subject); None when nobody is signed in."""
    user = st.user
    if not getattr(user, "is_logged_in", False):
        return None
    return user.get("email") or user.get("sub")


def current_owner() -> str | None:
    """Whose saved twins and scenarios this session sees: the signed-in identity, or None (shared) with sign-in off."""
    return signed_in_identity() if sign_in_enabled() else None


def saving_allowed(where: str) -> bool:
    """Show what saving means here; False (with a sign-in button) when sign-in is on and nobody is signed in."""
    if not sign_in_enabled():
        st.caption(SHARED_NOTICE)
        return True
    identity = signed_in_identity()
    if identity is None:
        st.info(f"Sign in to save or open {where}: what you save is visible to you only.")
        st.button("Sign in", key=f"auth_login_{where}", on_click=st.login)
        return False
    st.caption(f"Signed in as {identity}: what you save here is visible to you only.")
    st.button("Sign out", key=f"auth_logout_{where}", on_click=st.logout)
    return True
