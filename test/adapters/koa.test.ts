import { koaHarness } from './apps.js';
import { describeAdapterScenarios } from './scenarios.js';

describeAdapterScenarios(koaHarness);
