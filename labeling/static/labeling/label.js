// Keyboard for the labeling screen: every action has a key, answering by key moves on.
// Loaded with `defer` from the page (the CSP forbids inline script); does nothing on other pages.
//
// A label or a skip is sent with fetch and answered with the next screen (the server leases the next
// item in the same request), which replaces this one and gets its own history entry: one request per
// label, no page load. Without JavaScript the forms post and redirect as plain HTML forms.
(function () {
  "use strict";

  // This script's address: a page that loads it is a screen to swap in (loadsThisScript).
  var SCRIPT_URL = document.currentScript ? document.currentScript.src : "";
  var SWAPPED_FORMS = ["label-form", "skip-form"];
  // A flag or a comment comes back as this item's screen too: the answers given so far, not sent yet, are put back.
  var KEEPING_FORMS = ["flag-form", "comment-form"];
  // Answers sent while signed out wait in this tab's storage under this prefix and the item id, for the sign-in.
  var UNSENT = "expertloop-unsent-answers:";
  // What the expert gave on an item and has not sent yet, kept in this tab as they go, under this prefix and the item
  // id: a reload, or Back then Forward, shows the item with it again. Forgotten once the label is saved.
  var DRAFT = "expertloop-draft:";
  // The screen's other boxes a draft keeps besides the answers.
  var DRAFT_BOXES = ["comment-body", "flag-note", "skip-reason"];
  var form, overlay, questions, active, submitting;
  // What had the focus when the shortcuts overlay opened: it gets it back when the overlay closes.
  var focusBeforeOverlay = null;
  // The item's lease (bindLease) and when the expert last pressed a key, clicked, typed or scrolled.
  var lease = null;
  var lastInput = 0;
  // The screen's answers and boxes as the server sent them (draftNow, as JSON), before a draft was put back: input
  // that differs is kept only in this tab, so closing it or going elsewhere asks first (confirmLeaving).
  var served = null;
  // This tab's tabs channel, its id on it, the item it told the other tabs it shows, and the other tabs showing that
  // item too (their ids): see announceItem.
  var tabs = window.BroadcastChannel ? new BroadcastChannel("expertloop-open-items") : null;
  var tabId = Math.random().toString(36).slice(2);
  var shownItem = null;
  var sameItemTabs = {};
  // One-character shortcuts (letters, digits, `?`) can be turned off in the shortcuts list (WCAG 2.1.4): a speech
  // input or a stray key press must not label or skip. Kept per browser; only Enter, Ctrl+Enter, Esc and the arrows
  // stay on then.
  var SINGLE_KEYS = "expertloop-single-key-shortcuts";
  var singleKeys = readSingleKeys();

  // (Re)read the screen: at load, and after each swap; `answers` (answersGiven) go back into its label form when it is
  // the same item's.
  function bind(answers) {
    form = document.getElementById("label-form");
    overlay = document.getElementById("keys-overlay");
    questions = form ? Array.prototype.slice.call(form.querySelectorAll(".question")) : [];
    active = -1;
    submitting = false;
    served = form ? JSON.stringify(draftNow()) : null;
    if (answers) putBack(answers);
    announceItem();
    if (!overlay) return;
    statusRegion();
    applySingleKeys();

    // The mouse moves the active question too, so keys and clicks can be mixed.
    questions.forEach(function (question, index) {
      question.addEventListener("focusin", function () { setActive(index, false); });
      question.addEventListener("click", function () { setActive(index, false); });
      // Answered: its error from the refused label goes (typing fires "input", a pick "change").
      ["input", "change"].forEach(function (kind) {
        question.addEventListener(kind, function () { clearErrorOnceAnswered(question); });
      });
    });
    overlay.addEventListener("click", function (event) {
      if (event.target === overlay || event.target.closest("#keys-close")) toggleOverlay(false);
    });
    var opener = document.getElementById("keys-open");
    if (opener) opener.addEventListener("click", function () { toggleOverlay(true); });
    var toggle = document.getElementById("single-keys");
    if (toggle) toggle.addEventListener("change", function () { setSingleKeys(toggle.checked); });
    document.querySelectorAll("form").forEach(function (each) {
      each.addEventListener("submit", function (event) {
        forgetDraftBoxes(each);
        var keeps = KEEPING_FORMS.indexOf(each.id) !== -1;
        if ((keeps || SWAPPED_FORMS.indexOf(each.id) !== -1) && window.fetch && window.DOMParser) {
          event.preventDefault();
          send(each, event.submitter, keeps ? answersGiven() : null);
          busy(each, true);
        }
        submitting = true;
        each.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
      });
    });

    bindLease();
    restoreDraft();
    restoreUnsent();
    if (questions.length) setActive(firstToAnswer(), false);
  }

  // The first question with an error, else the first one not answered yet, else the active one: where work goes on.
  function firstToAnswer() {
    var index = questions.findIndex(function (question) { return question.classList.contains("has-error"); });
    if (index === -1) index = questions.findIndex(function (question) { return !answered(question); });
    if (index === -1) index = active;
    return Math.max(index, 0);
  }

  // "Go to your label" (shown where the label is under the output, label.css): to the question to answer, with the
  // focus. Not by the link's #label-form: a new history entry would reload the screen (popstate), and Back would
  // stay on the item.
  function goToLabel(event) {
    var link = event.target.closest && event.target.closest("a.to-label-link");
    if (!link || !questions.length) return;
    event.preventDefault();
    setActive(firstToAnswer(), false);
    questions[active].scrollIntoView({ block: "center" });
    questions[active].focus({ preventScroll: true });
  }

  function send(sending, submitter, answers) {
    var body = new FormData(sending);
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    fetch(sending.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-Swap-Screen": "1" },
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var navigate = response.headers.get("X-Screen-Navigate");
      if (type.indexOf("text/html") !== 0 && !navigate) throw new Error("not a screen");
      var url = response.headers.get("X-Screen-Location") || response.url;
      if (isSignIn(url)) {
        return keepUnsent(sending, "You were signed out, so this was not saved.", "after you sign in", {
          href: signInUrl() + "?next=" + encodeURIComponent(location.pathname), text: "Sign in again",
        });
      }
      if (response.headers.get("X-Form-Stale")) {
        return keepUnsent(sending, "This screen is out of date, so this was not saved: you signed in or out in " +
          "another tab since it was opened.", "when you reload it", { href: location.pathname, text: "Reload this item" });
      }
      if (response.status === 409 && response.headers.get("X-Lease-Lost")) {
        return response.text().then(function (html) {
          itemLost(sending, refusal(new DOMParser().parseFromString(html, "text/html")) ||
            "This item went to another expert.");
        });
      }
      if (response.status >= 500) {
        // A server error (a proxy's 502 page, the app's 500 or 503): its page would replace the screen and hide the
        // answers, with no way to send them again. The screen stays, and Enter sends the same answers. The label may
        // be saved already (a proxy that gave up while the next screen was made): the same answers again are no edit.
        return notSent(sending, "The server had a problem (error " + response.status + "): this may not have been " +
          "saved. Your answers are still here: press Enter to send them again (a label saved already is not doubled).");
      }
      if (navigate) {
        if (sending.id === "label-form") forgetDraft();  // saved
        // A page without this script (home, after a label on a paused queue): loaded as a page, its own history
        // entry, as a swap would leave it in this page's history, where Back and Forward need the script.
        location.assign(navigate);
        return;
      }
      return response.text().then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        if (!loadsThisScript(page) && !response.ok) {
          // An error page (the item no longer the expert's, a role taken away): nothing was saved. Swapped in, a
          // page without this script would take this screen's history, where Back and Forward need the script; the
          // screen stays, with its answers, saying why, as when the item went to another expert.
          return itemLost(sending, refusal(page) || "This was not saved: the server refused it (error " +
            response.status + ").");
        }
        if (sending.id === "label-form" && response.ok) forgetDraft();  // saved (a refusal answers 400)
        if (!loadsThisScript(page)) {
          location.assign(url);  // a page a redirect led to, as above: loaded as a page
          return;
        }
        var before = document.querySelector(".labeling");
        show(html, url, answers);
        var again = answers && document.getElementById(sending.id);
        if (again) again.scrollIntoView({ block: "nearest" });  // back where the flag or comment was written
        afterSwap(sending, before ? before.dataset.itemId : null);
      });
    }).catch(function () {
      notSent(sending, "The server did not answer, so nothing changed here. Press Enter to send it again.");
    });
  }

  // A page this script runs on (the item, skipped and done screens): swapped in, it keeps Back and Forward working.
  function loadsThisScript(page) {
    return Array.prototype.some.call(page.scripts, function (script) {
      var src = script.getAttribute("src");  // as written: a parsed page resolves no address
      return src !== null && new URL(src, location.href).href === SCRIPT_URL;
    });
  }

  // What an error page says (its alert; else its first paragraph), for the screen that stays.
  function refusal(page) {
    var said = page.querySelector("[role=alert]") || page.querySelector("main section p");
    return said ? said.textContent.replace(/\s+/g, " ").trim() : "";
  }

  // A form on its way: on a slow network the screen shows it is being sent (dimmed, the label's button "Saving…"),
  // not a key that did nothing, until the next screen replaces it or the send fails.
  function busy(sending, on) {
    var text = sending.id === "label-form" ? sending.querySelector("#submit-label .submit-text") : null;
    if (on) {
      sending.setAttribute("aria-busy", "true");
      if (text) {
        text.dataset.idle = text.textContent;
        text.textContent = "Saving…";
      }
    } else {
      sending.removeAttribute("aria-busy");
      if (text && text.dataset.idle) text.textContent = text.dataset.idle;
    }
  }

  // Nothing was saved: the answers are still on the screen, so the expert can send them again.
  function notSent(sending, why) {
    busy(sending, false);
    submitting = false;
    sending.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = false; });
    notice(why);
  }

  // Put the screen the server answered in place of this one, under its own address, with `answers` (see bind). The
  // content and attributes of the body and of <main> are replaced, not those elements: the status region in <main>
  // stays the one a screen reader watches.
  function show(html, url, answers) {
    var next = new DOMParser().parseFromString(html, "text/html");
    next.querySelectorAll("script").forEach(function (script) { script.remove(); });  // this one is running
    document.title = next.title;
    var region = statusRegion();
    var main = region.parentNode;
    var incoming = document.adoptNode(next.body);
    var incomingMain = incoming.querySelector(":scope > main");
    if (!incomingMain) {  // a page without the site's layout (bare.html: the service is unavailable): all in <main>
      incomingMain = document.createElement("main");
      incomingMain.append.apply(incomingMain, Array.prototype.slice.call(incoming.childNodes));
      incoming.append(incomingMain);
    }
    // <main> keeps the id and tabindex "Skip to main content" lands on where the incoming one has none (the <main>
    // made just above): what names it by id still finds it.
    ["id", "tabindex"].forEach(function (name) {
      if (!incomingMain.hasAttribute(name) && main.hasAttribute(name)) {
        incomingMain.setAttribute(name, main.getAttribute(name));
      }
    });
    takeAttributes(document.body, incoming);
    takeAttributes(main, incomingMain);
    Array.prototype.slice.call(main.childNodes).forEach(function (node) { if (node !== region) node.remove(); });
    while (incomingMain.firstChild) main.insertBefore(incomingMain.firstChild, region);
    var body = document.body;
    Array.prototype.slice.call(body.childNodes).forEach(function (node) { if (node !== main) node.remove(); });
    var beforeMain = true;
    Array.prototype.slice.call(incoming.childNodes).forEach(function (node) {
      if (node === incomingMain) beforeMain = false;
      else if (beforeMain) body.insertBefore(node, main);
      else body.append(node);
    });
    var target = new URL(url, location.href);
    if (target.href !== location.href) history.pushState({ screen: true }, "", target.href);
    window.scrollTo(0, 0);
    bind(answers);
  }

  // A swapped-in screen, for a screen reader: the page's messages (and a refused label's summary) are said in the
  // status region, and the focus goes where the work goes on. A flag or a comment: its message, which the focus reads
  // out (refused: back in its box). A refused label: the first question in error. Else the screen's heading.
  function afterSwap(sending, itemBefore) {
    var said = Array.prototype.map.call(document.querySelectorAll(".messages .message"), function (message) {
      var words = message.cloneNode(true);
      // "Undo skip", "Change this label": found by Tab, not said with the message.
      words.querySelectorAll("button, a").forEach(function (control) { control.remove(); });
      return words.textContent.replace(/\s+/g, " ").trim();
    });
    var messageLine = document.querySelector(".messages .message");
    if (sending && KEEPING_FORMS.indexOf(sending.id) !== -1 && messageLine) {
      if (!messageLine.classList.contains("error")) {
        messageLine.tabIndex = -1;
        messageLine.focus({ preventScroll: true });
        return;
      }
      if (sending.id === "flag-form") openFlag(); else focusBox(document.getElementById("comment-body"));
      announce(said.join(" "));
      return;
    }
    var refused = document.querySelector("#label-form .form-error");
    if (refused) {
      refused.removeAttribute("role");  // said below, once
      said.push(refused.textContent.trim());
    }
    var firstError = questions.findIndex(function (question) { return question.classList.contains("has-error"); });
    var screen = document.querySelector(".labeling");
    var item = screen && form ? screen.dataset.itemId : null;
    if (item && item !== itemBefore) {
      said.push("Item " + item + " loaded.");
      // The week's progress under the heading is read with the screen, not said on every item: only when it is the
      // last one waiting, which changes what comes after it.
      if (document.querySelector("#item-progress[data-last-waiting]")) said.push("The last one waiting for you here.");
    }
    announce(said.join(" "));
    if (firstError !== -1) {
      moveTo(firstError);
      return;
    }
    var heading = document.querySelector("main h1");
    if (heading) {
      if (!heading.hasAttribute("tabindex")) heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }

  function takeAttributes(element, from) {
    Array.prototype.slice.call(element.attributes).forEach(function (attribute) {
      element.removeAttribute(attribute.name);
    });
    Array.prototype.slice.call(from.attributes).forEach(function (attribute) {
      element.setAttribute(attribute.name, attribute.value);
    });
  }

  // The polite status region of the labeling screen, made once and kept through every swap (show): in <main>, with
  // the messages, so that nothing of the page is outside a landmark.
  function statusRegion() {
    var region = document.getElementById("screen-status");
    if (!region) {
      region = document.createElement("div");
      region.id = "screen-status";
      region.className = "sr-only";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.querySelector("main").append(region);
    }
    return region;
  }

  function announce(text) {
    if (!text) return;
    var line = document.createElement("p");
    line.textContent = text;
    statusRegion().replaceChildren(line);  // a new node: the same words said twice in a row are said again
  }

  // What the label form holds now, answered but not sent: its item and every answer field.
  function answersGiven() {
    var screen = document.querySelector(".labeling");
    if (!form || !screen) return null;
    var names = Array.prototype.map.call(form.querySelectorAll("[name^='q-']"), function (input) { return input.name; });
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (name.indexOf("q-") === 0) fields.push([name, value]);
    });
    return { item: screen.dataset.itemId, names: names, fields: fields };
  }

  function putBack(answers) {
    var screen = document.querySelector(".labeling");
    var again = document.getElementById("label-form");
    if (!screen || !again || screen.dataset.itemId !== answers.item) return;
    // By field name: should a new rubric version have been published meanwhile, an answer it no longer offers is
    // left out, its new questions keep what the server gave them, and the server checks the rest against it.
    again.querySelectorAll("[name^='q-']").forEach(function (input) {
      if (answers.names.indexOf(input.name) === -1) return;  // a question that was not on the screen
      var given = answers.fields.filter(function (field) { return field[0] === input.name; });
      if (input.type === "radio" || input.type === "checkbox") {
        input.checked = given.some(function (field) { return field[1] === input.value; });
      } else {
        input.value = given.length ? given[given.length - 1][1] : "";
      }
    });
  }

  function notice(text, link, kind) {
    var box = document.querySelector(".messages");
    if (!box) {
      // The region base.html draws for the server's messages, at the top of <main>: named, so a screen reader lists
      // it with the landmarks.
      box = document.createElement("section");
      box.className = "messages";
      box.setAttribute("aria-label", "Messages");
      document.querySelector("main").prepend(box);
    }
    var line = document.createElement("p");
    line.className = "message " + (kind || "error");
    line.setAttribute("role", kind ? "status" : "alert");
    line.textContent = text;
    if (link) {
      var anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.textContent = link.text;
      line.append(" ", anchor);
    }
    box.replaceChildren(line);
  }

  // The session ended (it expired, or the expert signed out in another tab): the server answered with its sign-in
  // page. Or a sign-in since renewed the form token: the server refused the form. Either way nothing was saved, so
  // the screen stays with its answers, and this tab keeps them to put back on the item once it is loaded again.
  function signInUrl() {
    var screen = document.querySelector(".labeling");
    return (screen && screen.dataset.signInUrl) || "";
  }

  function isSignIn(url) {
    return Boolean(signInUrl()) && new URL(url, location.href).pathname === signInUrl();
  }

  function keepUnsent(sending, why, when, link) {
    var answers = answersGiven();
    try {
      if (answers) sessionStorage.setItem(UNSENT + answers.item, JSON.stringify(answers));
    } catch (error) {
      answers = null;  // storage refused (private mode, full): the answers stay on this screen only
    }
    if (sending) {
      busy(sending, false);
      submitting = false;
      sending.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = false; });
    }
    notice(why + (answers ? " Your answers are kept in this tab and put back on this item " + when + "." : ""), link);
  }

  // The item stays this expert's while its screen is open and used: the lease is renewed (renew_lease) before it runs
  // out, but only while the page is visible and the expert gave input within the last lease length, so an idle tab
  // lets the item go to another expert. The page says how long the lease has left, not when it ends: clocks differ.
  function bindLease() {
    var screen = document.querySelector(".labeling");
    var left = screen ? screen.dataset.leaseSecondsLeft : "";
    lease = null;
    if (!screen || !screen.dataset.renewUrl || !left) return;  // no lease: a labeled item, to change
    lease = {
      url: screen.dataset.renewUrl,
      length: Number(screen.dataset.leaseSeconds) * 1000,
      endsAt: Date.now() + Number(left) * 1000,
      lost: false,
      pending: false,
      retryAt: 0,
    };
  }

  function renewIfDue() {
    if (!lease || lease.lost || lease.pending || document.visibilityState !== "visible" || !window.fetch) return;
    var now = Date.now();
    if (now < lease.retryAt) return;  // the last try got no answer to go by: not every second
    if (now - lastInput > lease.length) return;  // idle for a lease length: let the item go
    if (lease.endsAt - now > lease.length / 3) return;  // not due yet
    var tokens = document.getElementById("skip-form");  // on every screen that holds a lease: its CSRF and item tokens
    if (!tokens) return;
    var body = new FormData();
    ["csrfmiddlewaretoken", "handed"].forEach(function (name) {
      if (tokens.elements[name]) body.append(name, tokens.elements[name].value);
    });
    var renewing = lease;
    renewing.pending = true;
    // Until an answer says otherwise, the next try waits: a server down or a sign-in page is not asked every second.
    renewing.retryAt = now + Math.min(30000, renewing.length / 6);
    fetch(renewing.url, { method: "POST", body: body, credentials: "same-origin" }).then(function (response) {
      if (response.status === 404) renewing.lost = true;  // not this expert's item to keep (any more): stop asking
      // Anything but JSON (signed out, a stale form token) is for the label's submit to explain; try again later.
      if ((response.headers.get("Content-Type") || "").indexOf("application/json") !== 0) return null;
      return response.json().then(function (answer) {
        if (renewing !== lease) return;  // another screen since
        if (response.status === 409) {
          renewing.lost = true;
          itemLost(null, answer.message);
        } else if (response.ok && answer.seconds_left === null) {
          lease = null;  // labeled meanwhile (another tab): nothing left to keep
        } else if (response.ok) {
          renewing.endsAt = Date.now() + answer.seconds_left * 1000;
          renewing.retryAt = 0;
        }
      });
    }).catch(function () {}).then(function () { renewing.pending = false; });
  }

  // The item went to another expert: say so now, before more work goes into it, and keep the answers in this tab.
  function itemLost(sending, why) {
    var screen = document.querySelector(".labeling");
    var next = screen && screen.dataset.nextUrl;
    keepUnsent(sending, why, "if it is handed to you again", next ? { href: next, text: "Take the next item" } : null);
  }

  function noteInput() {
    lastInput = Date.now();
    renewIfDue();
  }

  function draftKey() {
    var screen = document.querySelector(".labeling");
    return screen && form ? DRAFT + screen.dataset.itemId : null;
  }

  function draftNow() {
    var draft = answersGiven();
    if (!draft) return null;
    draft.boxes = {};
    DRAFT_BOXES.forEach(function (id) {
      var box = document.getElementById(id);
      if (box) draft.boxes[id] = box.value;
    });
    return draft;
  }

  function saveDraft() {
    var key = draftKey();
    try {
      if (key) sessionStorage.setItem(key, JSON.stringify(draftNow()));
    } catch (error) { /* storage refused (private mode, full): the draft stays on this screen only */ }
  }

  function forgetDraft() {
    var key = draftKey();
    try {
      if (key) sessionStorage.removeItem(key);
    } catch (error) { /* nothing was kept */ }
  }

  // A flag, a comment or a skip reason being sent is no longer a draft: the screen that answers must not get it back.
  function forgetDraftBoxes(sending) {
    var key = draftKey();
    var draft = draftNow();
    if (!key || !draft) return;
    DRAFT_BOXES.forEach(function (id) {
      if (sending.querySelector("#" + id)) draft.boxes[id] = "";
    });
    try {
      sessionStorage.setItem(key, JSON.stringify(draft));
    } catch (error) { /* storage refused */ }
  }

  // The item shown again (a reload, Back then Forward): put back what the expert gave and had not sent.
  function restoreDraft() {
    var key = draftKey();
    var saved = null;
    try {
      saved = key && sessionStorage.getItem(key);
    } catch (error) {
      return;
    }
    if (!saved) return;
    var before = JSON.stringify(draftNow());
    var draft = JSON.parse(saved);
    putBack(draft);
    Object.keys(draft.boxes || {}).forEach(function (id) {
      var box = document.getElementById(id);
      if (box && DRAFT_BOXES.indexOf(id) !== -1) box.value = draft.boxes[id];
    });
    if (JSON.stringify(draftNow()) !== before) {
      notice("Your answers not sent yet are back on this item.", null, "info");
    }
  }

  // Back on the item (signed in again, or reloaded): put back the answers keepUnsent kept, once.
  function restoreUnsent() {
    var screen = document.querySelector(".labeling");
    if (!form || !screen) return;
    var saved = null;
    try {
      saved = sessionStorage.getItem(UNSENT + screen.dataset.itemId);
      sessionStorage.removeItem(UNSENT + screen.dataset.itemId);
    } catch (error) {
      return;
    }
    if (!saved) return;
    putBack(JSON.parse(saved));
    notice("Your answers that were not saved are back: press Enter to send them.", null, "info");
  }

  // Leaving the page (closing the tab, a link, a reload) with answers or notes not sent: the browser asks first. The
  // draft would survive a reload, but not a closed tab, and the item stays leased to nobody working on it. Not while
  // a label, skip, flag or comment is being sent, nor when nothing was changed on the screen.
  function hasUnsavedInput() {
    return Boolean(form) && !submitting && served !== null && JSON.stringify(draftNow()) !== served;
  }

  function confirmLeaving(event) {
    if (!hasUnsavedInput()) return;
    event.preventDefault();
    event.returnValue = "";  // what older browsers need to ask
  }

  // A second tab on the same item (opened twice, or the queue's next item, which is the one already held) would hold
  // a second draft, and the label sent last replaces the other: each tab says on a channel which item it shows, and
  // tabs showing the same one warn at once, both of them. A tab that moves on or closes says so, and the warning goes.
  function announceItem() {
    var screen = document.querySelector(".labeling");
    var item = screen && form ? screen.dataset.itemId : null;
    if (item !== shownItem) {
      leaveItem();
      shownItem = item;
      sameItemTabs = {};
      if (tabs && item) tabs.postMessage({ showing: item, tab: tabId });
    }
    warnOfOtherTab();  // the same item's screen swapped in (a flag, a comment, a refused label) lost the warning
  }

  function leaveItem() {
    if (tabs && shownItem) tabs.postMessage({ left: shownItem, tab: tabId });
  }

  function onTabMessage(event) {
    var said = event.data || {};
    if (!shownItem) return;
    if (said.showing === shownItem) {
      if (!said.reply) tabs.postMessage({ showing: shownItem, tab: tabId, reply: true });  // so the newer tab warns too
      sameItemTabs[said.tab] = true;
    } else if (said.left === shownItem) {
      delete sameItemTabs[said.tab];
    }
    warnOfOtherTab();
  }

  function warnOfOtherTab() {
    var warning = document.getElementById("other-tab");
    var screen = document.querySelector(".labeling");
    if (!Object.keys(sameItemTabs).length || !screen) {
      if (warning) warning.remove();
      return;
    }
    if (warning) return;
    warning = document.createElement("p");
    warning.id = "other-tab";
    warning.className = "message warning";
    warning.setAttribute("role", "alert");
    warning.textContent = "This item is open in another tab too: label it in one tab only and close the other, " +
      "or the label sent last replaces the one sent first.";
    var bar = screen.querySelector(".item-bar");
    if (bar) bar.after(warning); else screen.prepend(warning);
  }

  function inputs(question) {
    return Array.prototype.slice.call(question.querySelectorAll("input[type=radio], input[type=checkbox]"));
  }

  function answered(question) {
    var kind = question.dataset.kind;
    if (kind === "text" || kind === "correction") return true;
    return inputs(question).some(function (input) { return input.checked; });
  }

  function setActive(index, scroll) {
    if (!questions.length) return;
    active = Math.max(0, Math.min(questions.length - 1, index));
    questions.forEach(function (question, i) {
      question.classList.toggle("is-active", i === active);
      if (i === active) question.setAttribute("aria-current", "true"); else question.removeAttribute("aria-current");
    });
    if (scroll !== false) questions[active].scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // A key moved the active question: the focus goes to it, so a screen reader says which question it is, and Tab goes
  // on into its options.
  function moveTo(index) {
    setActive(index);
    var question = questions[active];
    if (question && !question.contains(document.activeElement)) question.focus({ preventScroll: true });
  }

  function advance() {
    if (active < questions.length - 1) moveTo(active + 1);
  }

  function questionName(question) {
    var prompt = question.querySelector(".q-prompt");
    return "Question " + (questions.indexOf(question) + 1) + ", " + (prompt ? prompt.textContent.trim() : "");
  }

  // The error a refused label showed on a question goes once it is answered, and its ties to the question with it.
  function clearErrorOnceAnswered(question) {
    if (!question.classList.contains("has-error")) return;
    var box = question.querySelector("textarea");
    if (box ? !box.value.trim() : !answered(question)) return;
    question.classList.remove("has-error");
    question.removeAttribute("aria-describedby");
    question.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    var error = question.querySelector(".field-error");
    if (error) error.hidden = true;
  }

  // The option a key picks: the one the page marks with it (y/n; a rating's digit is its value, else the n-th
  // option's); a question whose options carry no digit (yes/no) takes 1-9 as the n-th option.
  function pick(question, key) {
    var choices = inputs(question);
    var input = choices.find(function (choice) { return choice.dataset.shortcut === key; });
    var digits = choices.some(function (choice) { return /^[0-9]$/.test(choice.dataset.shortcut || ""); });
    if (!input && !digits && /^[1-9]$/.test(key)) input = choices[Number(key) - 1];
    if (!input) return false;
    input.checked = input.type === "checkbox" ? !input.checked : true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    // The focus is not on the option (it stays where the keys are pressed): say what was picked.
    var label = input.closest("label");
    var name = label && label.querySelector(".option-label") ? label.querySelector(".option-label").textContent : "";
    announce(questionName(question) + ": " + name.trim() + (input.checked ? " selected." : " not selected."));
    return true;
  }

  function submit(target) {
    if (!target || submitting) return;
    submitting = true;
    if (target.requestSubmit) target.requestSubmit(); else target.submit();
  }

  function isTyping(element) {
    if (!element || element === document.body) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["radio", "checkbox", "button", "submit", "reset", "hidden"].indexOf(element.type) === -1;
  }

  // A modal dialog: open, it holds the focus (Tab goes round inside it); closed, the focus goes back where it was.
  function toggleOverlay(show) {
    var opening = show === undefined ? overlay.hidden : show;
    if (opening === !overlay.hidden) return;
    if (opening) {
      focusBeforeOverlay = document.activeElement;
      overlay.hidden = false;
      (document.getElementById("keys-close") || overlay.querySelector("[role=dialog]")).focus();
    } else {
      overlay.hidden = true;
      if (focusBeforeOverlay && focusBeforeOverlay.isConnected && focusBeforeOverlay !== document.body) {
        focusBeforeOverlay.focus();
      }
      focusBeforeOverlay = null;
    }
  }

  function tabInOverlay(event) {
    var stops = Array.prototype.slice.call(overlay.querySelectorAll("button, a[href], input, [tabindex='0']"));
    if (!stops.length) return;
    var at = stops.indexOf(document.activeElement);
    var next = at === -1 ? 0 : (at + (event.shiftKey ? stops.length - 1 : 1)) % stops.length;
    stops[next].focus();
  }

  function readSingleKeys() {
    try {
      return localStorage.getItem(SINGLE_KEYS) !== "off";
    } catch (error) {
      return true;  // storage refused: on, as by default
    }
  }

  function setSingleKeys(on) {
    singleKeys = on;
    try {
      if (on) localStorage.removeItem(SINGLE_KEYS); else localStorage.setItem(SINGLE_KEYS, "off");
    } catch (error) { /* storage refused: the choice holds on this screen only */ }
    applySingleKeys();
  }

  // The setting shown: its checkbox, the hints of one-key shortcuts hidden when off (label.css), and the one-key
  // aria-keyshortcuts put aside then, so a screen reader does not offer a key that does nothing.
  function applySingleKeys() {
    document.documentElement.classList.toggle("single-keys-off", !singleKeys);
    var toggle = document.getElementById("single-keys");
    if (toggle) toggle.checked = singleKeys;
    document.querySelectorAll("[aria-keyshortcuts], [data-keyshortcuts]").forEach(function (element) {
      var keys = element.getAttribute("aria-keyshortcuts") || element.getAttribute("data-keyshortcuts");
      if (keys.length !== 1) return;
      element.setAttribute(singleKeys ? "aria-keyshortcuts" : "data-keyshortcuts", keys);
      element.removeAttribute(singleKeys ? "data-keyshortcuts" : "aria-keyshortcuts");
    });
  }

  function focusBox(element) {
    if (!element) return;
    element.focus();
    var end = element.value.length;
    if (element.setSelectionRange) element.setSelectionRange(end, end);
  }

  function openFlag() {
    var box = document.getElementById("flag-box");
    if (box) box.open = true;
    focusBox(document.getElementById("flag-note"));
  }

  // The guidelines open with the focus in them: Page Down and Space then scroll the label panel they are in (long
  // guidelines are several screens), not the page beside it. Closed, the focus goes back to the active question.
  function toggleGuidelines() {
    var box = document.getElementById("guidelines");
    if (!box) return;
    box.open = !box.open;
    var text = box.querySelector(".markdown");
    if (box.open) {
      box.scrollIntoView({ block: "nearest" });
      if (text) text.focus({ preventScroll: true });
    } else if (box.contains(document.activeElement) && active !== -1) {
      moveTo(active);
    }
  }

  function onTypingKey(event, target) {
    var ctrl = event.ctrlKey || event.metaKey;
    if (event.key === "Escape") {
      event.preventDefault();
      target.blur();
      return;
    }
    if (event.key !== "Enter") return;
    if ((target.id === "flag-note" || target.id === "skip-reason") && !event.shiftKey && !ctrl) {
      event.preventDefault();
      submit(target.form);
    } else if (ctrl) {
      event.preventDefault();
      submit(target.form);
    }
  }

  // The letter of a shortcut: the key's own on a Latin layout, else the one at its place on a US keyboard, so that on a
  // Russian, Hebrew or Arabic layout the y key ("н", "ט", "غ") still answers yes. Other keys stay as they are.
  function latinKey(event) {
    var key = event.key;
    if (key.length !== 1 || /^[A-Za-z]$/.test(key)) return key;
    var place = /^Key([A-Z])$/.exec(event.code || "");
    if (!place || !/\p{L}/u.test(key)) return key;
    return event.shiftKey ? place[1] : place[1].toLowerCase();
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!overlay || event.isComposing) return;
    if (isTyping(target)) {
      onTypingKey(event, target);
      return;
    }
    var ctrl = event.ctrlKey || event.metaKey;
    if (event.key === "Enter" && ctrl) {
      event.preventDefault();
      submit(form);
      return;
    }
    if (ctrl || event.altKey) return;
    if (!overlay.hidden) {
      if (event.key === "?" || event.key === "Escape") {
        event.preventDefault();
        toggleOverlay(false);
      } else if (event.key === "Tab") {
        event.preventDefault();
        tabInOverlay(event);
      }
      return;
    }
    var question = questions[active];
    var key = latinKey(event);
    var handled = true;
    if (!singleKeys && key.length === 1) return;  // one-character shortcuts turned off: the key is the page's own

    if (key === "?") {
      toggleOverlay(true);
    } else if (key === "Enter") {
      // A focused link, button or summary keeps its own Enter; everywhere else Enter submits the label.
      var tag = target && target.tagName;
      if (tag === "A" || tag === "BUTTON" || tag === "SUMMARY") return;
      submit(form);
    } else if (key === "Escape") {
      if (target && target.blur) target.blur();
    } else if (/^[0-9]$/.test(key) && question) {
      var kind = question.dataset.kind;
      if (kind === "rating" || kind === "choice" || kind === "binary") {
        if (pick(question, key)) advance();
      } else if (kind === "multi_choice") {
        pick(question, key);
      } else {
        handled = false;
      }
    } else if ((key === "y" || key === "n") && question && question.dataset.kind === "binary") {
      if (pick(question, key)) advance();
    } else if ((key === "ArrowDown" || key === "ArrowUp") && target && target.type === "radio") {
      return;  // the browser's own keys of a radio group: the next or previous option (j and k change question)
    } else if (key === "j" || key === "ArrowDown") {
      moveTo(active + 1);
    } else if (key === "k" || key === "ArrowUp") {
      moveTo(active - 1);
    } else if (key === "e" && question) {
      focusBox(question.querySelector("textarea"));
    } else if (key === "s") {
      submit(document.getElementById("skip-form"));
    } else if (key === "S" && event.shiftKey) {
      focusBox(document.getElementById("skip-reason"));  // skip with a reason: Enter there sends it
    } else if (key === "f") {
      openFlag();
    } else if (key === "c") {
      focusBox(document.getElementById("comment-body"));
    } else if (key === "g") {
      toggleGuidelines();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  ["keydown", "pointerdown", "input", "wheel", "touchstart"].forEach(function (kind) {
    document.addEventListener(kind, noteInput, { capture: true, passive: true });
  });
  document.addEventListener("click", goToLabel);
  document.addEventListener("visibilitychange", renewIfDue);
  // Typing fires "input"; a key picking an option fires "change" (pick). A text box's own "change" comes on blur,
  // also when a swap takes it off the page, with what was just sent: it is not a draft.
  ["input", "change"].forEach(function (kind) {
    document.addEventListener(kind, function (event) {
      var target = event.target;
      if (!target || !target.isConnected || !target.closest || !target.closest(".labeling")) return;
      if (kind === "change" && target.type !== "radio" && target.type !== "checkbox") return;
      saveDraft();
    });
  });
  setInterval(renewIfDue, 1000);

  // Coming back with the browser's back button restores this page from cache: make it usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    submitting = false;
    document.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = false; });
    shownItem = null;
    announceItem();  // shown again: the other tabs learn it, as at a load
  });
  window.addEventListener("pagehide", leaveItem);
  window.addEventListener("beforeunload", confirmLeaving);
  if (tabs) tabs.addEventListener("message", onTabMessage);

  // Back and forward between swapped screens: load the screen of that address from the server (the item
  // with the expert's label, or the one they hold), as a page load would.
  window.addEventListener("popstate", function () { location.reload(); });

  bind();
})();
