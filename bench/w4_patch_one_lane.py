"""Try (`w4_close.py --compare w4_patch_one_lane`): the close's steps after resolve in one lane, one after the other
on one connection, as before the lanes (`labeling.services.lanes`): what running them side by side saves, paired."""

from labeling.services import lanes

lanes.can_run_side_by_side = lambda: False
