"""ElevenLabs' permission names (``PermissionType`` in the OpenAPI spec)."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = (
    "text_to_speech", "speech_to_speech", "speech_to_text", "models_read", "models_write", "voices_read",
    "voices_write", "speech_history_read", "speech_history_write", "sound_generation", "audio_isolation",
    "voice_generation", "dubbing_read", "dubbing_write", "pronunciation_dictionaries_read",
    "pronunciation_dictionaries_write", "user_read", "user_write", "projects_read", "projects_write",
    "audio_native_read", "audio_native_write", "workspace_read", "workspace_write", "forced_alignment",
    "convai_read", "convai_write", "music_generation", "image_video_generation", "flows", "templates",
    "add_voice_from_voice_library", "create_instant_voice_clone", "create_professional_voice_clone",
    "publish_voice_to_voice_library", "share_voice_externally", "create_user_api_key",
    "workspace_analytics_full_read", "webhooks_write", "service_account_write", "group_members_manage",
    "workspace_members_read", "workspace_members_invite", "workspace_members_remove",
    "terms_of_service_accept", "audit_log_read", "conversation_privacy_manage",
    "copy_resources_cross_workspace", "synthid_detector",
)  # fmt: skip


def parse_permissions(value: str | list[str] | None) -> list[str] | str:
    """Turn ``"all"``, ``"a,b"`` or a list into the stored form, rejecting unknown names."""
    if value is None or value == "all" or value == ["all"]:
        return "all"
    names = [p.strip() for p in value.split(",")] if isinstance(value, str) else [p.strip() for p in value]
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(PERMISSIONS))
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(unknown)}; known: {', '.join(PERMISSIONS)}")
    return sorted(set(names))
