"""One conversation in Arabic, its answer mixing in English: the labeling screen shows each paragraph in its own
direction (the sanitizer gives each block dir="auto"), right to left for the Arabic ones, left to right for the
English one between them.

A shopper of the app asks in Arabic for another size; the bot answers rightly, in Arabic, but quotes the app's menu
in English, and the shopper rates it down asking for an answer in Arabic only. Dated a few minutes before the seed,
in the running week, and rated down: it waits in *Thumbs down* among the items nobody has labeled yet.
"""

from datetime import datetime, timedelta
from typing import Any

from labeling.rules.calendar import cycle_week, week_start

EXTERNAL_ID = "msg_5a1e0a7ab1c2d3e4"
ORDER = "KP-4821930"
QUESTION = f"مرحباً، طلبت سترة المطر القابلة للطي (الطلب {ORDER}) وهي صغيرة علي. هل يمكنني استبدالها بمقاس أكبر؟"
ANSWER = (
    "نعم، استبدال المقاس مجاني. افتح طلبك في التطبيق، واختر المقاس الجديد، ثم اطبع ملصق الشحن المجاني.\n\n"
    f"In the app: *My orders → {ORDER} → Exchange*, choose the new size and print the free label.\n\n"
    "سنرسل لك المقاس الجديد فور أن تمسح شركة الشحن طردك، دون انتظار وصوله إلينا."
)
COMMENT = "أرجو الرد باللغة العربية فقط"  # "Please answer in Arabic only"


def an_arabic_conversation(project, *, now: datetime, like: dict[str, Any]) -> dict[str, Any]:
    """The output record (as a product app sends it), from a shopper of `like` (the generated output it follows, whose
    session, model and prompt it shares), at most ten minutes before `now` and in its week."""
    began = week_start(project, cycle_week(project, now))
    at = now - min(now - began, timedelta(minutes=20)) / 2
    return {
        "external_id": EXTERNAL_ID,
        "occurred_at": at.isoformat(),
        "end_user_id": like["end_user_id"],
        "session_id": f"{like['session_id']}-ar",
        "model": like["model"],
        "input": [{"role": "user", "content": QUESTION}],
        "output": ANSWER,
        "metadata": {
            **{key: like["metadata"][key] for key in ("channel", "prompt_version") if key in like["metadata"]},
            "topic": "returns",
            "locale": "ar",
            "latency_ms": 1840,
            "tokens": 212,
        },
        "tags": ["order_lookup"],
        "feedback": {"score": -1, "comment": COMMENT},
    }
