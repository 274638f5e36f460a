"""The prompt library's pages (conversations/prompts.py does the work)."""

from __future__ import annotations

import json

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from conversations import prompts
from conversations.actions import ActionError
from conversations.models import PROMPT_TEXT_MAX, PROMPT_TITLE_MAX, Prompt


def _page(request: HttpRequest, *, editing: Prompt | None = None, error: str = "",
          draft: dict[str, str] | None = None, status: int = 200) -> HttpResponse:  # fmt: skip
    own: list[Prompt] = []
    published: list[Prompt] = []
    for p in prompts.visible(user=request.user):
        (own if p.user_id == request.user.pk else published).append(p)
    context = {
        "nav": "prompts",
        "own": own,
        "published": published,
        "editing": editing,
        "error": error,
        "draft": draft or {},
        "title_max": PROMPT_TITLE_MAX,
        "text_max": PROMPT_TEXT_MAX,
    }
    return render(request, "conversations/prompts.html", context, status=status)


@login_required
def prompt_list(request: HttpRequest) -> HttpResponse:
    """The library page; POST adds a prompt."""
    if request.method == "POST":
        title, text = request.POST.get("title", ""), request.POST.get("text", "")
        try:
            prompts.add(user=request.user, title=title, text=text)  # type: ignore[arg-type]
        except ActionError as exc:
            return _page(
                request, error=exc.message, draft={"title": title, "text": text}, status=400
            )
        flash.success(request, "Prompt saved. Type / in the message box to use it.")
        return redirect("prompts")
    return _page(request)


def _own_or_404(request: HttpRequest, pk: int) -> Prompt:
    try:
        return prompts.get_own(user=request.user, pk=pk)
    except ActionError:
        raise Http404("No such prompt.") from None


@login_required
def prompt_edit(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = _own_or_404(request, pk)
    if request.method == "POST":
        title, text = request.POST.get("title", ""), request.POST.get("text", "")
        try:
            prompts.edit(prompt=prompt, title=title, text=text)
        except ActionError as exc:
            return _page(request, editing=prompt, error=exc.message,
                         draft={"title": title, "text": text}, status=400)  # fmt: skip
        flash.success(request, "Prompt updated.")
        return redirect("prompts")
    return _page(request, editing=prompt, draft={"title": prompt.title, "text": prompt.text})


@login_required
@require_POST
def prompt_delete(request: HttpRequest, pk: int) -> HttpResponseBase:
    prompts.delete(prompt=_own_or_404(request, pk))
    flash.success(request, "Prompt deleted.")
    return redirect("prompts")


@login_required
@require_POST
def prompt_import(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is not None:
        raw = upload.read(prompts.MAX_IMPORT_BYTES + 1)
    else:
        raw = request.POST.get("json", "").encode()
    try:
        added, skipped = prompts.import_json(user=request.user, raw=raw)  # type: ignore[arg-type]
    except ActionError as exc:
        return _page(request, error=exc.message, status=400)
    note = f"Imported {added} prompt{'s' if added != 1 else ''}."
    if skipped:
        note += f" Skipped {skipped} you already had."
    flash.success(request, note)
    return redirect("prompts")


@login_required
@require_GET
def prompt_export(request: HttpRequest) -> HttpResponse:
    shape = "act" if request.GET.get("shape") == "act" else "key"
    body = json.dumps(prompts.export(user=request.user, shape=shape), ensure_ascii=False, indent=2)  # type: ignore[arg-type]
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="chatweb-prompts-{shape}.json"'
    return response


@login_required
@require_GET
def prompt_picker(request: HttpRequest) -> JsonResponse:
    """What the composer's `/` picker offers: the user's prompts and the published ones."""
    return JsonResponse(
        {
            "prompts": [
                {
                    "id": p.pk,
                    "title": p.title,
                    "text": p.text,
                    "published": p.user_id != request.user.pk,
                }
                for p in prompts.visible(user=request.user)
            ]
        }
    )
