import { sellauth } from './sellauth.js';
import { sellix } from './sellix.js';
import type { StoreProvider, StoreProviderName } from './store-provider.js';
import { stripe } from './stripe.js';

export const PROVIDERS: Record<StoreProviderName, StoreProvider> = { sellix, sellauth, stripe };
