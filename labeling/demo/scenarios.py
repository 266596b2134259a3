"""What customers ask the support bot, the right answer, and the specific ways each answer goes wrong.

Every scenario draws all its facts and writes all its variants up front, whatever variant is used
later: the random sequence then stays the same whichever answer the simulation picks.
"""

from collections.abc import Callable

from .shop import HELP_URL, POLICY, SCANS, Facts, Turn, add_business_days

P = POLICY
Scenario = Callable[[Facts], Turn]


def _lookup(f: Facts, status: str, **extra) -> dict:
    """The order-lookup tool result the bot saw; experts check answers against it."""
    order = f.order()
    return {
        "tool": "order_lookup",
        "order": {
            "number": order.number,
            "status": status,
            "items": [{"name": order.product.name, "price": f.money(order.product.price)}],
            "carrier": order.carrier,
            "tracking_number": order.tracking,
            **{key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in extra.items()},
        },
    }


# --- shipping ---------------------------------------------------------------------------------


def where_is_order(f: Facts) -> Turn:
    o = f.order()
    shipped = f.day(-f.rng.randint(1, 3))
    eta = add_business_days(shipped, f.rng.randint(3, 5))
    fake = f.tracking(o.carrier)
    user = f.pick([
        f"Where is my order {o.number}?",
        f"my order {o.number} still hasnt arrived, where is it",
        f"Can you tell me when {o.number} will be delivered?",
        f"I ordered the {o.product.name} last week ({o.number}). Any update on delivery?",
        f"Tracking for {o.number} please",
    ])  # fmt: skip
    core = (
        f"Your order **{o.number}** ({o.product.name}) shipped on {f.text(shipped)} with {o.carrier} and is on its "
        f"way. It's expected to arrive on **{f.text(eta, weekday=True)}**.\n\nTracking number: `{o.tracking}`"
    )
    wrong = {
        "hallucinated_order_data": f.pick([
            f"Your order **{o.number}** was delivered on {f.text(shipped)} and left at your front door. "
            "If you can't find it, check with your neighbours.",
            f"Your order **{o.number}** is out for delivery today and should arrive before 6 pm. "
            f"Tracking number: `{fake}`",
        ]),
        "evasive": "I'm sorry, I don't have access to shipping information. "
        "Please check the tracking link in your shipping confirmation email.",
    }  # fmt: skip
    context = _lookup(f, "in_transit", shipped_on=shipped, estimated_delivery=eta)
    return Turn("shipping", user, core, wrong, context, ["order_lookup"])


def shipping_times(f: Facts) -> Turn:
    user = f.pick([
        "How long does shipping take?",
        "If I order today, when will it get here?",
        "do you have express delivery? how much is it",
        "Is shipping free?",
        "What are your delivery options?",
    ])  # fmt: skip
    core = (
        f"Standard shipping takes {P.standard_days} business days and costs {f.fee(P.standard_fee)} — it's free on "
        f"orders from {f.fee(P.free_shipping_from)}. Express takes {P.express_days} business days for "
        f"{f.fee(P.express_fee)}.\n\nOrders placed before 2 pm ship the same day."
    )
    wrong = {
        "wrong_policy": f.pick([
            "Standard shipping is always free and takes 1–2 business days. Express arrives the next morning for "
            f"{f.fee('5.95')}.",
            f"Standard shipping takes 7–10 business days. Express ({f.fee('19.95')}) takes 3–4 business days.",
        ]),
    }  # fmt: skip
    return Turn("shipping", user, core, wrong, None, ["kb_search"])


def change_address(f: Facts) -> Turn:
    o = f.order()
    shipped = f.rng.random() < 0.5
    user = f.pick([
        f"I moved last week, can I change the shipping address on {o.number}?",
        f"Wrong address on my order {o.number}!! can you fix it",
        f"I need to change the delivery address for order {o.number}",
    ])  # fmt: skip
    if shipped:
        core = (
            f"Order **{o.number}** has already shipped with {o.carrier}, so we can no longer change the address. "
            f"You can ask {o.carrier} to redirect it with tracking number `{o.tracking}`, or refuse the delivery: "
            "it then comes back to us and you get a full refund."
        )
        wrong = {"wrong_policy": f"No problem — I've updated the delivery address for **{o.number}**. "
                 "The parcel will be redirected automatically."}  # fmt: skip
    else:
        core = (
            f"Good timing: **{o.number}** hasn't shipped yet. Go to *My orders → {o.number} → Edit address* and save "
            "the new one. That works until the order ships, usually within a few hours."
        )
        wrong = {"wrong_policy": "Unfortunately addresses can't be changed once an order is placed. "
                 "Please cancel the order and place it again."}  # fmt: skip
    context = _lookup(f, "shipped" if shipped else "processing")
    return Turn("shipping", user, core, wrong, context, ["order_lookup"])


def lost_parcel(f: Facts) -> Turn:
    o = f.order()
    scanned = f.day(-f.rng.randint(P.lost_parcel_days + 1, P.lost_parcel_days + 8))
    scan = f.rng.choice(SCANS[:3])
    user = f.pick([
        f"My parcel {o.number} hasn't moved in over a week. Tracking just says '{scan}'.",
        f"order {o.number} is stuck, tracking hasnt updated since {f.text(scanned)}",
        f"I think my package is lost. Order {o.number}.",
    ])  # fmt: skip
    core = (
        f"I'm sorry — the tracking for **{o.number}** hasn't moved since {f.text(scanned)} (\"{scan}\"), which is "
        f"far longer than it should. I'm handing this to a colleague in our shipping team now: they'll open an "
        f"investigation with {o.carrier} and email you within 1 business day. If the parcel isn't found, we send a "
        "replacement or refund you in full, whichever you prefer."
    )
    wrong = {
        "missing_escalation": f"Parcels sometimes take a little longer than expected. The last update for "
        f"**{o.number}** was on {f.text(scanned)}; please give it a few more days, it will most likely arrive soon.",
        "hallucinated_order_data": f"Good news: **{o.number}** is out for delivery today and should arrive by 8 pm.",
    }
    context = _lookup(f, "in_transit", last_scan={"date": scanned.isoformat(), "event": scan})
    return Turn("shipping", user, core, wrong, context, ["order_lookup", "escalated"])


# --- returns ----------------------------------------------------------------------------------


def return_window(f: Facts) -> Turn:
    o = f.order(kinds=("apparel", "home", "outdoor"))
    age = f.rng.randint(3, 44)
    delivered, deadline = f.day(-age), f.day(-age + P.return_days)
    reason = f.pick(["it doesnt fit", "I changed my mind", "it looks different than on the website", ""])
    user = f.pick([
        f"Can I still return the {o.product.name} from order {o.number}?",
        f"I want to return my {o.product.name}{', ' + reason if reason else ''}. How do I do that?",
        f"What's your return policy? I got my {o.product.name} on {f.text(delivered)}.",
    ])  # fmt: skip
    if age <= P.return_days:
        core = (
            f"Yes — {o.number} was delivered on {f.text(delivered)}, so you can return the {o.product.name} until "
            f"**{f.text(deadline)}**. It needs to be unused, with the tags on.\n\n"
            f"1. Go to *My orders → {o.number} → Return items*.\n"
            "2. Choose the item and a reason, and print the label.\n"
            f"3. Drop the parcel at any {o.carrier} point.\n\n"
            f"The label costs {f.fee(P.return_fee)}, deducted from your refund (free if the item is faulty). The "
            f"refund goes to your original payment method {P.refund_days} business days after we receive the parcel."
        )
        wrong_policy = f.pick([
            "You can return it within 60 days of delivery, and returns are always free. "
            f"Just go to *My orders → {o.number} → Return items*.",
            f"Our return window is 14 days from delivery, so unfortunately {o.number} can no longer be returned.",
        ])  # fmt: skip
    else:
        core = (
            f"I'm sorry — {o.number} was delivered on {f.text(delivered)}, and our return window is {P.return_days} "
            f"days from delivery, so it closed on {f.text(deadline)}. If the {o.product.name} is faulty, tell me "
            "what's wrong and I'll pass it to our team."
        )
        wrong_policy = ("No problem, you can still return it — we accept returns up to 60 days after delivery. "
                        f"Go to *My orders → {o.number} → Return items*.")  # fmt: skip
    wrong = {
        "wrong_policy": wrong_policy,
        "hallucinated_order_data": f"I've registered a return for **{o.number}** and emailed you a prepaid label. "
        f"Your refund of {f.money(o.product.price)} will follow within 24 hours.",
    }
    return Turn("returns", user, core, wrong, _lookup(f, "delivered", delivered_on=delivered), ["order_lookup"])


def refund_status(f: Facts) -> Turn:
    o = f.order(kinds=("apparel", "home", "outdoor"))
    arrived = f.rng.random() < 0.65
    received = f.day(-f.rng.randint(1, 6))
    refund_by = add_business_days(received, P.refund_days_max)
    amount = o.product.price - float(P.return_fee)
    wrong_amount = round(o.product.price * f.rng.choice([0.5, 0.8, 1.2]), 2)
    user = f.pick([
        f"I sent back my {o.product.name} last week, when do I get my money back?",
        f"Where is my refund for order {o.number}??",
        f"still no refund for {o.number}, it's been ages",
    ])  # fmt: skip
    if arrived:
        core = (
            f"We received your return for **{o.number}** on {f.text(received)}. The refund of {f.money(amount)} "
            f"goes to your original payment method within {P.refund_days} business days of that, so by "
            f"**{f.text(refund_by)}** at the latest. Your bank may need another day or two to show it."
        )
    else:
        core = (
            f"Your return for **{o.number}** is still on its way to our warehouse. The refund of {f.money(amount)} "
            f"is issued within {P.refund_days} business days after it arrives, and you'll get an email when it's sent."
        )
    wrong = {
        "hallucinated_order_data": f"Your refund of {f.money(wrong_amount)} for **{o.number}** was issued on "
        f"{f.text(f.day(-1))} and should already be in your account.",
        "wrong_policy": "Refunds can take up to 30 business days to process. Please be patient, it will arrive.",
    }
    context = {
        "tool": "return_lookup",
        "return": {
            "order": o.number,
            "status": "received" if arrived else "in_transit",
            "received_on": received.isoformat() if arrived else None,
            "refund_amount": f.money(amount),
            "refund_status": "pending",
        },
    }
    return Turn("returns", user, core, wrong, context, ["return_lookup"])


def final_sale(f: Facts) -> Turn:
    o = f.order(kinds=("final_sale",))
    name = o.product.name
    user = f.pick([
        f"Can I return the {name}? I changed my mind",
        f"I want to send back the {name} I bought, how?",
        f"return {name} please, order {o.number}",
    ])  # fmt: skip
    core = (
        f"I'm sorry, the {name} is a final-sale item ({o.product.final_sale_reason}), so it can't be returned or "
        "exchanged. If it arrived damaged or isn't what you ordered, let me know and I'll get it sorted."
    )
    wrong = {"wrong_policy": f"Of course! You can return the {name} within {P.return_days} days. "
             f"Go to *My orders → {o.number}* and select *Return items*."}  # fmt: skip
    return Turn("returns", user, core, wrong, _lookup(f, "delivered"), ["order_lookup"])


def damaged_item(f: Facts) -> Turn:
    o = f.order(kinds=("home", "outdoor"))
    user = f.pick([
        f"My {o.product.name} arrived broken",
        f"The {o.product.name} from order {o.number} came damaged, box was crushed and it's cracked",
        f"received a damaged {o.product.name} ({o.number}), what now?",
    ])  # fmt: skip
    core = (
        f"I'm so sorry your {o.product.name} arrived damaged. I'm passing this to a colleague now: they'll email you "
        "within 1 business day to ask for a photo and arrange a free replacement or a full refund of "
        f"{f.money(o.product.price)}, whichever you prefer. That's on us, so you won't pay anything."
    )
    wrong = {
        "missing_escalation": "Sorry to hear that! You can return the item within "
        f"{P.return_days} days via *My orders → {o.number} → Return items*.",
        "wrong_policy": f"You can return it via *My orders → {o.number} → Return items*. The "
        f"{f.fee(P.return_fee)} label fee is deducted from your refund.",
    }
    return Turn("returns", user, core, wrong, _lookup(f, "delivered"), ["order_lookup", "escalated"])


def size_exchange(f: Facts) -> Turn:
    o = f.order(kinds=("apparel",))
    size = f.pick(["a size up", "one size smaller", "an M instead of the S", "a 10 instead of a 9"])
    user = f.pick([
        f"The {o.product.name} is too small, can I swap it for {size}?",
        f"can i exchange my {o.product.name} for {size}",
        f"Need a different size for the {o.product.name} from {o.number}",
    ])  # fmt: skip
    core = (
        f"Yes, size exchanges are free. Go to *My orders → {o.number} → Exchange*, choose the new size and print "
        f"the free label. We ship the new size as soon as {o.carrier} scans your parcel — no need to wait until "
        "it reaches us."
    )
    wrong = {"wrong_policy": f"Exchanges aren't possible, but you can return the item (the {f.fee(P.return_fee)} "
             "label fee is deducted from the refund) and place a new order."}  # fmt: skip
    return Turn("returns", user, core, wrong, _lookup(f, "delivered"), ["order_lookup"])


# --- billing ----------------------------------------------------------------------------------


def double_charge(f: Facts) -> Turn:
    o = f.order()
    amount = f.money(o.product.price + (0 if o.product.price >= 50 else float(P.standard_fee)))
    both_posted = f.rng.random() < 0.35
    first = f.day(-f.rng.randint(1, 4))
    user = f.pick([
        f"I was charged twice for order {o.number}!",
        f"why do I see two payments of {amount} on my card??",
        f"double charge on my credit card for {o.number}, please refund",
    ])  # fmt: skip
    if both_posted:
        core = (
            f"You're right: order **{o.number}** was charged twice, {amount} each on {f.text(first)}. I'm sorry about "
            "that. I've passed it to our billing team; they refund the duplicate and email you a confirmation "
            "within 1 business day."
        )
        wrong = {"missing_escalation": "One of these is probably a temporary hold from when your card was checked. "
                 f"It disappears by itself within {P.hold_days} business days."}  # fmt: skip
        tags = ["payment_lookup", "escalated"]
    else:
        core = (
            f"I can see why that's worrying. For **{o.number}** there is one payment of {amount} and one *pending* "
            "hold of the same amount from when your card was first checked. The hold is not a charge: it "
            f"disappears by itself within {P.hold_days} business days, usually sooner."
        )
        wrong = {"wrong_policy": "Pending charges can take up to 30 days to disappear. If it's still there after "
                 "that, please contact your bank."}  # fmt: skip
        tags = ["payment_lookup"]
    wrong["hallucinated_order_data"] = f"I've refunded the second charge of {amount}; it'll be on your card tomorrow."
    context = {
        "tool": "payment_lookup",
        "order": o.number,
        "transactions": [
            {"amount": amount, "status": "posted", "date": first.isoformat()},
            {"amount": amount, "status": "posted" if both_posted else "pending", "date": first.isoformat()},
        ],
    }
    return Turn("billing", user, core, wrong, context, tags)


def promo_after_purchase(f: Facts) -> Turn:
    o = f.order()
    code = f.pick(["WELCOME10", "SPRING15", "FREESHIP", "PINE20", "HELLO10"])
    user = f.pick([
        f"I forgot to use my promo code {code} on order {o.number}, can you still apply it?",
        "can I add a discount code after ordering?",
        f"My code {code} didn't work at checkout, can you apply it to {o.number}?",
    ])  # fmt: skip
    core = (
        "I'm sorry, promo codes can't be added after checkout. If the order hasn't shipped yet, you can cancel it in "
        f"*My orders* and place it again with {code}.\n\n(A price drop is different: if an item gets cheaper within "
        f"{P.price_match_days} days of your purchase, we refund the difference.)"
    )
    wrong = {"wrong_policy": f"Done! I've applied {code} to **{o.number}** — "
             f"{f.money(round(o.product.price * 0.1, 2))} will be refunded to your card within 24 hours."}  # fmt: skip
    return Turn("billing", user, core, wrong, None, ["kb_search"])


def invoice(f: Facts) -> Turn:
    o = f.order()
    user = f.pick([
        f"How can I get an invoice for {o.number}? Need it for my company",
        "where do i download the receipt",
        f"Can you send me a VAT invoice for order {o.number}?",
    ])  # fmt: skip
    core = (
        f"You can download it yourself: *My orders → {o.number} → Invoice* gives you a PDF. If you need a company "
        "name or tax number on it, add them under *Settings → Billing details* first, then download it again."
    )
    return Turn("billing", user, core, {}, None, ["kb_search"])


def price_drop(f: Facts) -> Turn:
    o = f.order()
    days = f.rng.randint(2, 25)
    now_price = round(o.product.price * f.rng.choice([0.7, 0.75, 0.8, 0.85]), 2)
    bought = f.day(-days)
    user = f.pick([
        f"I bought the {o.product.name} for {f.money(o.product.price)} and now it's {f.money(now_price)}. "
        "Can I get the difference?",
        f"the {o.product.name} is on sale now, I paid full price {days} days ago :(",
        f"price drop on {o.product.name} - refund?",
    ])  # fmt: skip
    diff = f.money(o.product.price - now_price)
    if days <= P.price_match_days:
        core = (
            f"Yes — you bought it on {f.text(bought)}, within our {P.price_match_days}-day price protection. Tap "
            f"*Request price adjustment* on *My orders → {o.number}*; the difference of {diff} goes back to your "
            f"original payment method within {P.refund_days} business days."
        )
        wrong_policy = "Unfortunately we don't offer price adjustments. Sale prices only apply to new orders."
    else:
        core = (
            f"I'm sorry — price adjustments are possible within {P.price_match_days} days of purchase, and you "
            f"bought the {o.product.name} on {f.text(bought)}, {days} days ago, so I can't refund the difference."
        )
        wrong_policy = (f"Sure, price adjustments are possible within 30 days. Tap *Request price adjustment* on "
                        f"*My orders → {o.number}* and we'll refund {diff}.")  # fmt: skip
    wrong = {
        "wrong_policy": wrong_policy,
        "hallucinated_order_data": f"I've refunded {f.money(round(o.product.price * 0.4, 2))} to your card; "
        "it should show up within 24 hours.",
    }
    context = {
        "tool": "order_lookup",
        "order": {"number": o.number, "purchased_on": bought.isoformat(), "item": o.product.name,
                  "price_paid": f.money(o.product.price), "current_price": f.money(now_price)},
    }  # fmt: skip
    return Turn("billing", user, core, wrong, context, ["order_lookup"])


def payment_methods(f: Facts) -> Turn:
    user = f.pick(["Can I pay with PayPal?", "do you take klarna", "What payment methods do you accept?",
                   "Can I pay in installments?"])  # fmt: skip
    core = (
        "We accept Visa, Mastercard, American Express, PayPal and Klarna. With Klarna you can pay in 3 "
        "interest-free instalments: choose it at checkout."
    )
    wrong = {"wrong_policy": "At the moment we only accept credit and debit cards (Visa and Mastercard)."}
    return Turn("billing", user, core, wrong, None, ["kb_search"])


# --- account ----------------------------------------------------------------------------------


def password_reset(f: Facts) -> Turn:
    user = f.pick(["I forgot my password", "cant log in, reset link doesnt work",
                   "the password reset email never arrived", "How do I reset my password?"])  # fmt: skip
    core = (
        "Go to *Sign in → Forgot password?* and enter your email address. The link we send is valid for "
        f"{P.reset_minutes} minutes, so use it right away. If it hasn't arrived after a few minutes, check your spam "
        "folder; an expired link just shows an error, so request a new one."
    )
    wrong = {"wrong_policy": "Go to *Sign in → Forgot password?*. The reset link stays valid for 24 hours."}
    return Turn("account", user, core, wrong, None, ["kb_search"])


def locked_out(f: Facts) -> Turn:
    user = f.pick(["It says my account is locked?", "locked out after trying my password a few times",
                   "account locked. help"])  # fmt: skip
    core = (
        f"After {P.lockout_attempts} failed sign-in attempts we lock the account for {P.lockout_minutes} minutes "
        f"to protect it. Wait {P.lockout_minutes} minutes and sign in again, or use *Forgot password?* to set a new "
        "password, which unlocks it at once."
    )
    wrong = {"wrong_policy": "Locked accounts can only be unlocked by our support team. This takes 2–3 business days."}
    return Turn("account", user, core, wrong, None, ["kb_search"])


def change_email(f: Facts) -> Turn:
    user = f.pick(["How do I change the email on my account?", "i have a new email address, how do i update it",
                   "Can you change my account email?"])  # fmt: skip
    core = (
        "Go to *Settings → Account → Email*, enter the new address and save. We send a confirmation link to both "
        "the old and the new address; the change takes effect once both are confirmed."
    )
    wrong = {"wrong_policy": "Email addresses can't be changed. Please create a new account with the new address."}
    return Turn("account", user, core, wrong, None, ["kb_search"])


def delete_account(f: Facts) -> Turn:
    user = f.pick(["Please delete my account", "how do I close my account and delete my data?",
                   "I want you to remove all my data (GDPR)"])  # fmt: skip
    core = (
        "You can do it yourself under *Settings → Privacy → Delete account*. We confirm by email and delete your "
        f"data within {P.deletion_days} days. Open orders and gift-card balances are lost, so use them first."
    )
    wrong = {"wrong_policy": "Done — your account and all your data have been deleted."}
    return Turn("account", user, core, wrong, None, ["kb_search"])


def account_takeover(f: Facts) -> Turn:
    o = f.order()
    user = f.pick([
        f"I got an email about an order {o.number} I never placed!",
        "someone changed my password and placed an order??",
        "There's a login from a device I don't know on my account",
    ])  # fmt: skip
    core = (
        "That sounds like someone else may have access to your account. I'm handing this to our security team "
        "right now; they'll contact you within the hour and cancel any order you didn't place, so you won't pay "
        "for it. Meanwhile, please reset your password via *Forgot password?*."
    )
    wrong = {"missing_escalation": "To be safe, change your password under *Settings → Account*. If you don't "
             "recognise an order, you can cancel it yourself in *My orders*."}  # fmt: skip
    return Turn("account", user, core, wrong, None, ["escalated"])


SCENARIOS: dict[str, list[tuple[Scenario, int]]] = {
    "shipping": [(where_is_order, 6), (shipping_times, 2), (change_address, 2), (lost_parcel, 2)],
    "returns": [(return_window, 5), (refund_status, 4), (final_sale, 1), (damaged_item, 2), (size_exchange, 2)],
    "billing": [(double_charge, 3), (promo_after_purchase, 2), (invoice, 2), (price_drop, 2), (payment_methods, 1)],
    "account": [(password_reset, 4), (locked_out, 2), (change_email, 2), (delete_account, 1), (account_takeover, 1)],
}
TOPIC_WEIGHTS = {"shipping": 36, "returns": 26, "billing": 20, "account": 18}

EVASIVE = {
    "shipping": "I'm sorry, I can't see where your parcel is. Please check your shipping confirmation email.",
    "returns": f"For questions about returns and refunds, please visit our Help Centre: {HELP_URL}/returns",
    "billing": "I'm sorry, I can't help with payment questions. Please contact your bank or card issuer.",
    "account": "For account issues, please use the contact form on our website.",
}
GENERIC_EVASIVE = [
    "I'm sorry, I can't help with that request.",
    "I'm not sure I understand. Could you rephrase your question?",
    f"You can find the answer to most questions in our Help Centre: {HELP_URL}",
]
