import { expressHarness } from './apps.js';
import { describeAdapterScenarios } from './scenarios.js';

describeAdapterScenarios(expressHarness);
