"""Demo data for a first look: a support-bot project with a realistic history (`manage.py seed_demo`).

`project.py` describes the project (rubric, guidelines, queues, people); `shop.py` holds the shop's
policy and catalogue; `scenarios.py` and `conversation.py` write the conversations; `support_bot.py`
simulates eight weeks of shoppers; `seed.py` stores it all through the real services.
"""
