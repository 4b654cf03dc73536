"""Who a person or a token acts as: the four roles, shared by the API's tokens, the console's
accounts and every front end's access rules. The console's French names for them are in
entrypoints/web/labels.py."""

OPERATOR = "operator"  # the program operator: partners, terminals, programs, campaigns
SUPPORT = "support"  # the support desk: terminals' state and commands, never money
PARTNER_ADMIN = "partner_admin"  # runs one partner: operations, refunds, terminals, users
PARTNER_USER = "partner_user"  # a partner's clerk: the till and the day's operations

ROLES = (OPERATOR, SUPPORT, PARTNER_ADMIN, PARTNER_USER)
PARTNER_ROLES = (PARTNER_ADMIN, PARTNER_USER)
STAFF_ROLES = (OPERATOR, SUPPORT)  # the program's own people: no partner
