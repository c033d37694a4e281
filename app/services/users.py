"""Users: sign-up, authentication, profile and provisioning from managed auth."""

import uuid
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import release_connection
from app.core.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied
from app.core.passwords import password_problem
from app.core.row_cache import get_recent
from app.core.security import ExternalIdentity, LocalToken, hash_password, verify_password
from app.models.users import PasswordChange, User, UserCreate, UserPublic, UserUpdate
from app.services.rows import ListStatements, RowShape


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (normalised) email, if any."""
    result = await session.exec(select(User).where(User.email == email.strip().lower()))
    return result.first()


async def _ensure_email_free(session: AsyncSession, email: str) -> None:
    if await get_by_email(session, email) is not None:
        raise Conflict(f"The email {email} is already registered.")


async def create_user(session: AsyncSession, data: UserCreate, *, is_superuser: bool = False) -> User:
    """Register a local user; 409 when the email is taken."""
    hashed_password = await hash_password(data.password)  # before the session takes a connection
    await _ensure_email_free(session, data.email)
    user = User(email=data.email, full_name=data.full_name, hashed_password=hashed_password, is_superuser=is_superuser)
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with these credentials; the same error for every failure."""
    user = await get_by_email(session, email)
    await release_connection(session)
    valid, new_hash = await verify_password(password, user.hashed_password if user else None)
    if user is None or not valid or not user.is_active:
        raise NotAuthenticated("Incorrect email or password.")
    if new_hash is not None:
        user.hashed_password = new_hash
        await session.flush()
    return user


async def get_active_user(session: AsyncSession, token: LocalToken) -> User:
    """The active user a local token names; NotAuthenticated when gone, disabled, or the password changed since."""
    try:
        key = uuid.UUID(token.subject)
    except ValueError as exc:
        raise NotAuthenticated("The access token is not valid.") from exc
    user = await get_recent(session, User, key)  # a GET may use the row read up to USER_CACHE_SECONDS ago
    if user is None or not user.is_active:
        raise NotAuthenticated("The user of this token no longer exists or is inactive.")
    if token.version != user.token_version:
        raise NotAuthenticated("The access token was issued before the password changed; log in again.")
    return user


async def provision_external_user(session: AsyncSession, identity: ExternalIdentity) -> User:
    """The user for a managed-auth subject, created on its first valid token."""
    result = await session.exec(select(User).where(User.external_id == identity.subject))
    user = result.first()
    if user is None:
        if not identity.email:
            raise NotAuthenticated("The access token has no email claim to provision a user from.")
        if not identity.email_verified:
            # Anyone can claim an unverified address; "add member by email" would then add the impostor.
            raise NotAuthenticated("The access token's email is not verified (email_verified is not true).")
        email = identity.email
        if await get_by_email(session, email) is not None:
            raise Conflict(f"The email {email} already belongs to another account.")
        user = User(email=email, full_name=identity.full_name, external_id=identity.subject)
        session.add(user)
        await session.flush()
    if not user.is_active:
        raise NotAuthenticated("The user of this token is inactive.")
    return user


async def update_profile(session: AsyncSession, user: User, data: UserUpdate) -> User:
    """Change the caller's name or email; 409 when the new email is taken."""
    if "email" in data.model_fields_set and data.email != user.email:
        await _ensure_email_free(session, data.email)
        user.email = data.email
    if "full_name" in data.model_fields_set:
        user.full_name = data.full_name
    session.add(user)
    await session.flush()
    return user


async def change_password(session: AsyncSession, user: User, data: PasswordChange) -> None:
    """Replace the caller's password after checking the current one."""
    await release_connection(session)
    valid, _ = await verify_password(data.current_password, user.hashed_password)
    if not valid:
        raise PermissionDenied("The current password is incorrect.")
    problem = password_problem(data.new_password, user.email)
    if problem is not None:
        raise InvalidInput(f"new_password: the password {problem}.")
    user.hashed_password = await hash_password(data.new_password)
    # Every token issued before this change stops working.
    user.token_version += 1
    session.add(user)
    await session.flush()


_LIST = RowShape(UserPublic, User)
_LIST_STATEMENTS = ListStatements.paged(
    _LIST,
    sa_select(*_LIST.columns).select_from(User).order_by(col(User.created_at), col(User.id)),
    select(User.id),
)


async def list_users(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """All users, oldest first, as UserPublic's fields, with the total."""
    return await _LIST_STATEMENTS.read(await session.connection(), {}, limit, offset)
