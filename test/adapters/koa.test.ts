import { koaHarness } from './apps.js';
import { describeHardeningScenarios } from './hardening-scenarios.js';
import { describeAdapterScenarios } from './scenarios.js';

describeAdapterScenarios(koaHarness);
describeHardeningScenarios(koaHarness);
