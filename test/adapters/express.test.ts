import { expressHarness } from './apps.js';
import { describeHardeningScenarios } from './hardening-scenarios.js';
import { describeAdapterScenarios } from './scenarios.js';

describeAdapterScenarios(expressHarness);
describeHardeningScenarios(expressHarness);
