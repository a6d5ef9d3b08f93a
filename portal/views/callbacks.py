"""Gateway notifications: verified by the channel, applied forward-only, always logged."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from portal.extensions import csrf
from portal.plugins.channels import ChannelError, NotificationRejected, NotificationReply
from portal.plugins.startup import channels
from portal.services import unit_of_work
from portal.services.money import settlement

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")


@bp.post("/<channel_id>")
@csrf.exempt
def notify(channel_id: str) -> Response:
    """Receive one gateway notification for ``channel_id``."""
    try:
        channel = channels().get(channel_id)
    except ChannelError:
        return Response("unknown channel", status=404)
    body = request.get_data(cache=False)
    try:
        note, reply = channel.parse_notification(dict(request.headers), body)
    except NotificationRejected as exc:
        current_app.logger.warning("rejected %s notification: %s", channel_id, exc)
        return _reply(channel.failure_reply(400, f"rejected: {exc}"))
    outcome = settlement.apply_notification(channel_id, note)
    unit_of_work.release()
    if outcome in ("applied", "duplicate"):
        current_app.logger.info("%s notification %s: %s", channel_id, note.idempotency_key, outcome)
        return _reply(reply)
    current_app.logger.warning(
        "refused %s notification %s: %s", channel_id, note.idempotency_key, outcome
    )
    return _reply(channel.failure_reply(409, f"refused: {outcome}"))


def _reply(reply: NotificationReply) -> Response:
    return Response(reply.body, status=reply.status_code, content_type=reply.content_type)
