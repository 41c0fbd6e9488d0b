// What every client script shares: the server and token from the environment
// (SWITCHBOARD_URL, e.g. http://127.0.0.1:8000, and SWITCHBOARD_TOKEN, an admin's), plain
// HTTP for the setup, and the one scenario each client plays through its own transport.
//
// The scenario: trigger a meeting bot, follow its botStatus, stop it at the first status
// and follow it to DONE and the subscription's end; then a sandbox customer writes, the
// conversation is followed on conversationMessages, the customer writes again, and the
// subscription runs until the agent's reply to that second message arrives. The last line
// printed is the result as JSON; any failure prints why and exits 1.
'use strict';

const URL = process.env.SWITCHBOARD_URL;
const TOKEN = process.env.SWITCHBOARD_TOKEN;
if (!URL || !TOKEN) {
  console.error('SWITCHBOARD_URL and SWITCHBOARD_TOKEN are required');
  process.exit(2);
}
const WS_URL = URL.replace(/^http/, 'ws') + '/graphql/ws';

const TRIGGER = `mutation Trigger($meetUrl: String!) {
  triggerMeetingBot(input: { meetUrl: $meetUrl, botName: "Scribe" }) { id status }
}`;
const STOP = `mutation Stop($id: ID!) { stopMeetingBot(id: $id) { id status } }`;
const BOT_STATUS = `subscription BotStatus($botId: ID!) {
  botStatus(botId: $botId) { sequence status }
}`;
const CUSTOMER_WRITES = `mutation CustomerWrites($integrationId: ID!, $customer: String!, $text: String!) {
  sandboxSendCustomerMessage(integrationId: $integrationId, customer: $customer, text: $text)
}`;
/// A customer of this run alone: a sandbox customer's conversation follows them to each
/// new sandbox integration, as a phone number's does.
const CUSTOMER = `Ana ${process.pid}.${Date.now()}`;
const MESSAGES = `subscription Messages($conversationId: ID!) {
  conversationMessages(conversationId: $conversationId) { sequence role text delivery }
}`;

/// POSTs an operation with the token; its data, or an error naming what the server said.
async function http(query, variables) {
  const response = await fetch(URL + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`${query.split('{')[0].trim()}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/// An agent with a SANDBOX integration, and the conversation of a customer who wrote to it.
async function sandboxConversation() {
  const { createAgent } = await http(
    'mutation { createAgent(input: { name: "Front desk", systemPrompt: "Answer briefly." }) { id } }'
  );
  const { connectIntegration } = await http(
    'mutation($agentId: ID!) { connectIntegration(input: { agentId: $agentId, kind: SANDBOX, name: "Try it" }) { id } }',
    { agentId: createAgent.id }
  );
  const integrationId = connectIntegration.id;
  await http(CUSTOMER_WRITES, { integrationId, customer: CUSTOMER, text: 'Is the pool open today?' });
  for (let tries = 0; tries < 200; tries += 1) {
    const { conversations } = await http('{ conversations(first: 50) { nodes { id remoteUserName } } }');
    const mine = conversations.nodes.find((c) => c.remoteUserName === CUSTOMER);
    if (mine) return { integrationId, conversationId: mine.id };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the sandbox customer’s conversation did not appear within 10 s');
}

/// A GraphQL result's data, or a thrown error when it has errors.
function dataOf(result) {
  if (result.errors && result.errors.length) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

function describe(error) {
  if (error && typeof error.code === 'number') return `closed ${error.code} ${error.reason || ''}`;
  if (Array.isArray(error)) return JSON.stringify(error);
  return (error && (error.stack || error.message)) || JSON.stringify(error);
}

/// Plays the scenario with `client`:
///   mutate(query, variables) -> Promise<data>
///   subscribe(query, variables, { next(result), error(e), complete() }) -> stop()
async function scenario(client) {
  progress.step = 'triggering a bot';
  const { triggerMeetingBot } = await client.mutate(TRIGGER, {
    meetUrl: 'https://meet.google.com/abc-defg-hij',
  });
  const botId = triggerMeetingBot.id;
  const statuses = (progress.statuses = []);
  progress.step = 'following the bot';
  await new Promise((resolve, reject) => {
    client.subscribe(BOT_STATUS, { botId }, {
      next(result) {
        try {
          const { sequence, status } = dataOf(result).botStatus;
          statuses.push({ sequence, status });
          if (statuses.length === 1) client.mutate(STOP, { id: botId }).catch(reject);
        } catch (error) {
          reject(error);
        }
      },
      error: reject,
      complete: resolve,
    });
  });

  progress.step = 'starting a sandbox conversation';
  const { integrationId, conversationId } = await sandboxConversation();
  const second = `Do you have towels? (${Date.now()})`;
  const messages = (progress.messages = []);
  progress.step = 'following the conversation';
  await new Promise((resolve, reject) => {
    const stop = client.subscribe(MESSAGES, { conversationId }, {
      next(result) {
        try {
          const message = dataOf(result).conversationMessages;
          messages.push(message);
          if (messages.length === 1) {
            client.mutate(CUSTOMER_WRITES, { integrationId, customer: CUSTOMER, text: second }).catch(reject);
          }
          if (message.role === 'ASSISTANT' && message.text.includes(second)) {
            stop();
            resolve();
          }
        } catch (error) {
          reject(error);
        }
      },
      error: reject,
      complete: () => reject(new Error('conversationMessages ended before the reply arrived')),
    });
  });
  return { botId, statuses, conversationId, second, messages };
}

/// Where the scenario is, said when it fails.
const progress = {};

/// Runs `main` (which resolves to the result) within 30 s, prints the result, and exits.
function run(main) {
  const timer = setTimeout(() => {
    console.error(`timed out after 30 s, ${JSON.stringify(progress)}`);
    process.exit(1);
  }, 30000);
  main().then(
    (result) => {
      clearTimeout(timer);
      console.log(JSON.stringify(result));
      process.exit(0);
    },
    (error) => {
      console.error(`${describe(error)}, ${JSON.stringify(progress)}`);
      process.exit(1);
    }
  );
}

module.exports = { URL, TOKEN, WS_URL, http, scenario, run };
