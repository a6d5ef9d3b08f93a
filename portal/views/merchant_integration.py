"""Merchant pages for the shop integration: CSV import with progress, API keys, webhooks."""

from __future__ import annotations

import os
import secrets

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.domain.labels import WEBHOOK_FAILURES
from portal.infra.i18n import gettext
from portal.infra.queue import queue, redis_connection
from portal.services.errors import DomainError
from portal.services.integration import api_keys, webhooks
from portal.views.access import merchant_required
from portal.views.forms import ApiKeyForm, EmptyForm, ImportForm, WebhookForm
from portal.views.htmx_util import page_or_fragment
from portal.web import domain_message

bp = Blueprint("merchant_integration", __name__, url_prefix="/merchant")


@bp.get("/import")
@merchant_required
def import_page() -> ResponseReturnValue:
    """The upload form."""
    return render_template("merchant/import.html", form=ImportForm(), parsed=None)


@bp.post("/import")
@merchant_required
def import_upload() -> ResponseReturnValue:
    """Check the file; if it is clean and not a dry run, start the import job."""
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("merchant/import.html", form=form, parsed=None), 422
    try:
        text = form.file.data.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        form.file.errors = [gettext("The file is not UTF-8 text.")]
        return render_template("merchant/import.html", form=form, parsed=None), 422
    # heavy: the CSV checks validate rows with the API's pydantic models; loaded with a file
    from portal.services.integration import csv_import

    parsed = csv_import.parse(current_user.merchant_id, text)
    if not parsed.clean or form.dry_run.data:
        status = 200 if parsed.clean else 422
        return render_template("merchant/import.html", form=form, parsed=parsed), status
    token = secrets.token_hex(12)
    with open(os.path.join(csv_import.upload_dir(), f"{token}.csv"), "w", encoding="utf-8") as fh:
        fh.write(text)

    job = queue().enqueue(
        "jobs.imports.run",
        token,
        current_user.merchant_id,
        current_user.display_name,
        job_id=f"import-{token}",
        job_timeout=3600,
        meta={"merchant_id": current_user.merchant_id, "done": 0, "total": len(parsed.rows)},
    )
    job.meta.update(merchant_id=current_user.merchant_id, done=0, total=len(parsed.rows))
    job.save_meta()
    return redirect(url_for(".import_status", token=token), code=303)


@bp.get("/import/<token>")
@merchant_required
def import_status(token: str) -> ResponseReturnValue:
    """The import's progress (htmx polls the partial while it runs)."""
    from rq.exceptions import NoSuchJobError  # heavy: RQ, for the CSV import's status only
    from rq.job import Job  # heavy: RQ, for the CSV import's status only

    try:
        job = Job.fetch(f"import-{token}", connection=redis_connection())
    except NoSuchJobError:
        abort(404)
    if job.meta.get("merchant_id") != current_user.merchant_id:
        abort(404)
    status = job.get_status()
    return page_or_fragment(
        "merchant/import_status.html",
        "merchant/_import_progress.html",
        token=token,
        meta=job.meta,
        status=str(status.value if hasattr(status, "value") else status),
    )


@bp.get("/api-keys")
@merchant_required
def api_keys_page() -> ResponseReturnValue:
    """The shop's API keys (their prefixes only)."""
    return _keys_page()


def _keys_page(new_key: str = "", error: str = "") -> str:
    return render_template(
        "merchant/api_keys.html",
        keys=api_keys.keys_of(current_user.merchant_id),
        form=ApiKeyForm(),
        revoke_form=EmptyForm(prefix="revoke"),
        new_key=new_key,
        error=error,
    )


@bp.post("/api-keys")
@merchant_required
def create_api_key() -> ResponseReturnValue:
    """Create a key and show it this once."""
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _keys_page(error=gettext("Check the form.")), 422
    _, key = api_keys.create(current_user.merchant_id, form.label.data or "")
    return _keys_page(new_key=key)


@bp.post("/api-keys/<int:key_id>/revoke")
@merchant_required
def revoke_api_key(key_id: int) -> ResponseReturnValue:
    """Revoke a key; requests with it are refused from now on."""
    if not EmptyForm(prefix="revoke").validate_on_submit():
        abort(400)
    try:
        api_keys.revoke(current_user.merchant_id, key_id)
    except DomainError as exc:
        return _keys_page(error=domain_message(exc)), exc.status_code
    flash(gettext("Key revoked."))
    return redirect(url_for(".api_keys_page"), code=303)


@bp.get("/webhooks")
@merchant_required
def webhooks_page() -> ResponseReturnValue:
    """Endpoints and the delivery log, with a replay button per delivery."""
    return _webhooks_page()


def _webhooks_page(form: WebhookForm | None = None, error: str = "") -> str:
    mid = current_user.merchant_id
    return render_template(
        "merchant/webhooks.html",
        endpoints=webhooks.endpoints_of(mid),
        deliveries=webhooks.deliveries_of(mid),
        form=form or WebhookForm(),
        action_form=EmptyForm(prefix="act"),
        error=error,
        failure_labels=WEBHOOK_FAILURES,
    )


@bp.post("/webhooks")
@merchant_required
def add_webhook() -> ResponseReturnValue:
    """Add an endpoint."""
    form = WebhookForm()
    if not form.validate_on_submit():
        return _webhooks_page(form, gettext("Check the form.")), 422
    try:
        webhooks.add_endpoint(current_user.merchant_id, form.url.data or "")
    except DomainError as exc:
        return _webhooks_page(form, domain_message(exc)), exc.status_code
    flash(gettext("Endpoint added."))
    return redirect(url_for(".webhooks_page"), code=303)


@bp.post("/webhooks/<int:endpoint_id>/<any(pause, resume):action>")
@merchant_required
def toggle_webhook(endpoint_id: int, action: str) -> ResponseReturnValue:
    """Pause or resume an endpoint."""
    if not EmptyForm(prefix="act").validate_on_submit():
        abort(400)
    try:
        webhooks.set_active(current_user.merchant_id, endpoint_id, action == "resume")
    except DomainError:
        abort(404)
    return redirect(url_for(".webhooks_page"), code=303)


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
@merchant_required
def replay_delivery(delivery_id: int) -> ResponseReturnValue:
    """Send a delivery again."""
    if not EmptyForm(prefix="act").validate_on_submit():
        abort(400)
    try:
        webhooks.replay(current_user.merchant_id, delivery_id)
    except DomainError:
        abort(404)
    flash(gettext("Sent again."))
    return redirect(url_for(".webhooks_page"), code=303)
