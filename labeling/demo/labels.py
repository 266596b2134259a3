"""Past weeks' review work for the demo: the demo experts label, skip, flag and comment through the
real services, so that progress pages (and later gold answers and metrics) have a history to show.

Each expert answers from the hidden truth of the generated answer, with a little human noise: they
disagree sometimes, as real reviewers do. This week's items are left mostly open, for you to label.
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Least

from labeling.models import Comment, Flag, Item, Label, Output, Project, Queue, Rubric, Skip
from labeling.rules.calendar import cycle_week, week_end
from labeling.services.assignment import next_item, release_lease, skip_item
from labeling.services.labels import comment_on_item, flag_item, submit_label

from .conversation import FAILURES

EXPERTS = ("expert1", "expert2")
THIS_WEEK_SHARE = 0.3  # of this week's items expert1 has already done
GIVEN_AFTER = timedelta(days=1)  # an expert reviews an output about a day after it came (date_past_work)
# What an expert writes when raising a failure for the meeting: about the failure they saw.
FLAG_NOTES = {
    "wrong_policy": "Policy question: does the 30-day window start at delivery or at purchase? We answer both ways.",
    "hallucinated_order_data": "These order details are not in the context: where does the bot get them from?",
    "evasive": "The answer talks around the question. Is the prompt making it too cautious?",
    "missing_escalation": "Customer was clearly upset; the answer ignored it. Should this have gone to a human?",
}
# A five-point helpfulness as the same reviewer reads it on three points (rubric v2): a 4 is "nothing to add" too.
ON_THREE_POINTS = {1: 1, 2: 1, 3: 2, 4: 3, 5: 3}
PROMISE_NOTE = "The bot promised a refund date we cannot guarantee. Worth a rule in the prompt?"
COMMENTS = [
    "Checked the order in the back office: the tracking number is made up.",
    "Borderline. The facts are right but the customer has to read three paragraphs.",
    "Same pattern as last week: the bot quotes the old returns policy.",
]


class ReviewHistory:
    """The demo experts' past review work, in sittings: `label(before=week)` does the items of the weeks before that
    week, `label()` the rest (and part of this week). Each sitting labels with the rubric version current then, so
    the weeks before a rubric change are answered on the old scale and closed before the change is published."""

    def __init__(self, *, project: Project, truth: dict[str, str], seed: int, now):
        self.project, self.truth, self.now = project, truth, now
        self.rng = random.Random(seed)
        self.current = cycle_week(project, now)
        self.experts = list(get_user_model().objects.filter(username__in=EXPERTS).order_by("username"))
        self.flagged: set[int] = set()

    def label(self, *, before=None) -> int:
        """Label every open item of the weeks before `before` (None: every past week, and part of this one) as the
        demo experts; return labels made."""
        rng, rubric, made = self.rng, Rubric.objects.current_for(self.project), 0
        for queue in Queue.objects.filter(project=self.project).order_by("-priority", "pk"):
            for expert in self.experts:
                this_week_left = None
                # A queue serves its items oldest first (CLAIM_ORDER: by item, made in the order of the outputs).
                while (item := next_item(expert=expert, queue=queue)) is not None:
                    if before is not None and item.week >= before:
                        release_lease(expert=expert, item=item)
                        break
                    if item.week >= self.current:
                        # This week: expert1 does a share of it, expert2 has not started yet.
                        if this_week_left is None:
                            open_now = queue.items.filter(week__gte=self.current).count()
                            this_week_left = int(open_now * THIS_WEEK_SHARE) if expert.username == "expert1" else 0
                        if this_week_left <= 0:
                            release_lease(expert=expert, item=item)
                            break
                        this_week_left -= 1
                    kind = self.truth.get(item.output.external_id, "good")
                    if rng.random() < 0.02:
                        skip_item(expert=expert, item=item, reason="Not sure about this policy; leaving it to others.")
                        continue
                    answers = _answers(rng, kind, item.output, helpfulness_scale(rubric))
                    submit_label(expert=expert, item=item, rubric=rubric, answers=answers)
                    made += 1
                    # Each expert raises the first failure they meet, and a few more, for the weekly meeting.
                    if kind in FAILURES and (expert.pk not in self.flagged or rng.random() < 0.05):
                        flag_item(expert=expert, item=item, note=_flag_note(kind, item.output))
                        self.flagged.add(expert.pk)
                    if rng.random() < 0.03:
                        comment_on_item(author=expert, item=item, body=rng.choice(COMMENTS))
        date_past_work(self.project, self.now)
        return made


def helpfulness_scale(rubric: Rubric) -> list[int]:
    return next(question["scale"] for question in rubric.questions if question["key"] == "helpfulness")


def _flag_note(kind: str, output) -> str:
    if "refund will arrive by" in str(output.output):  # the GPT upgrade's promise (support_bot.PROMISE_RATE)
        return PROMISE_NOTE
    return FLAG_NOTES.get(kind, FLAG_NOTES["missing_escalation"])  # "rude": the customer was upset too


def date_past_work(project: Project, now) -> None:
    """The demo experts' work was given as they reviewed, not while seeding: each label and skip a day after its output,
    within its item's week (a closed week's labels came before its close, which froze them), and this week's before
    `now`; an item was complete with its last label. The flags and comments an expert left with a label came with it
    (the meeting page and the frozen agenda show when a flag was raised). And each label took a reviewer a minute or
    two, not the instant the seed took (the experts' median time and expert hours show it)."""
    for model in (Label, Skip):
        _given_in_their_week(project, model, now)
    last_label = Label.objects.filter(item_id=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    Item.objects.filter(project=project, completed_at__isnull=False).update(
        completed_at=Coalesce(Subquery(last_label), F("completed_at"))
    )
    for model, person in ((Flag, "expert_id"), (Comment, "author_id")):
        labeled_at = Label.objects.filter(item_id=OuterRef("item_id"), expert_id=OuterRef(person)).values("created_at")
        # One left by someone who did not label the item (a lead's) keeps its time.
        when = Coalesce(Subquery(labeled_at[:1]), F("created_at"))
        model.objects.filter(item__project=project).update(created_at=when)
    # 25 to 164 s, spread by label and expert without a random draw (the seed stays reproducible).
    Label.objects.filter(item__project=project).update(seconds_spent=25 + (F("id") * 7919 + F("expert_id") * 31) % 140)


def _given_in_their_week(project: Project, model: type[Label] | type[Skip], now) -> None:
    """Date `model`'s rows (labels or skips) a day after their output, or, for an output that came later than a day
    before its item's week ended (or before `now`), halfway from it to that end: never at or after it."""
    rows = model.objects.filter(item__project=project)
    occurred_at = Subquery(Output.objects.filter(items__pk=OuterRef("item_id")).values("occurred_at")[:1])
    given_at = Least(occurred_at + GIVEN_AFTER, Value(now))
    moments = {"created_at": given_at, **({"updated_at": given_at} if model is Label else {})}
    rows.update(**moments)
    late = []
    for week in rows.values_list("item__week", flat=True).distinct():
        ends = min(week_end(project, week), now)
        for pk, output_at in rows.filter(item__week=week, created_at__gte=ends).values_list(
            "pk", "item__output__occurred_at"
        ):
            at = output_at + (ends - output_at) / 2
            late.append(model(pk=pk, **dict.fromkeys(moments, at)))
    model.objects.bulk_update(late, list(moments), batch_size=500)


def _answers(rng: random.Random, kind: str, output, scale: list[int]) -> dict:
    """What a careful but human reviewer says about an answer of this kind: mostly what the answer
    deserves (the same for every reviewer), now and then a different reading. Helpfulness on the rubric's scale:
    1-5, or 1-3 from rubric v2, where the in-between readings of five points fall together (fewer disagreements)."""
    failed = kind in FAILURES and kind != "rude"
    correct = not failed
    if rng.random() < 0.1:  # reviewers disagree now and then
        correct = not correct
    helpfulness = {"good": 5, "too_long": 3, "curt": 3, "rude": 1}.get(kind, 2 if kind == "evasive" else 1)
    helpfulness = max(1, min(5, helpfulness + rng.choice([-1, 0, 0, 0, 1])))
    if scale == [1, 3]:
        helpfulness = ON_THREE_POINTS[helpfulness]
    deserved_tone = random.Random(output.external_id).choice(["friendly", "friendly", "neutral"])
    tone = {"curt": "curt", "rude": "rude"}.get(kind) or deserved_tone
    if rng.random() < 0.08:
        tone = "neutral" if tone != "neutral" else "friendly"
    answers: dict = {"correct": correct, "helpfulness": helpfulness, "tone": tone}
    issues = (
        [kind]
        if kind in {"wrong_policy", "hallucinated_order_data", "evasive", "missing_escalation", "too_long"}
        else []
    )
    if issues:
        answers["issues"] = issues
    if failed:
        answers["critique"] = {
            "wrong_policy": "Quotes the wrong return window / refund rule.",
            "hallucinated_order_data": "Order details are invented; they are not in the context.",
            "evasive": "Does not answer the question that was asked.",
            "missing_escalation": "This needed a hand-over to a human agent.",
        }[kind]
        if rng.random() < 0.3 and isinstance(output.output, str):
            answers["corrected_answer"] = (
                "Sorry about that! Let me hand you over to a colleague who can check this for you."
            )
    return answers
