"""Payment providers behind one interface (`base.PaymentProvider`, after pretix's
BasePaymentProvider): `manual` (bank transfer or cash, confirmed by the organizer) and `stripe`
(Stripe Checkout). A deployment uses one, chosen by SEATMESH_PAYMENTS_PROVIDER."""
