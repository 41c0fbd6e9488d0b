// The GraphiQL page's first tabs: one a domain, each a few operations to pick from with
// ▶. tests/js/graphiql_examples.js validates every one against schema.graphql.
(function (into) {
  'use strict';
  into.examples = [
    {
      domain: 'health',
      query: `# Public: answers without a token. Save one above (a JWT from
#   switchboard token --sub you --org your-org --role admin
# or an API key) for everything else.
query Health {
  health {
    status
    version
    sandbox
    database
    providers { name status }
    integrations { kind total connected }
    activeAgents
    totalAgents
  }
}

query WhoAmI {
  viewer { userId organisationId role viaApiKey }
}

mutation CreateApiKey($name: String!) {
  createApiKey(name: $name, role: MANAGER) {
    secret
    apiKey { id prefix role }
  }
}`,
      variables: { name: 'integration' },
    },
    {
      domain: 'meetings',
      query: `# A meeting bot: trigger it, then follow it live. With --sandbox the simulated
# bot service walks it to DONE in about 17 s, with SANDBOX- Jira issues.
mutation TriggerBot($meetUrl: String!) {
  triggerMeetingBot(input: { meetUrl: $meetUrl, botName: "Scribe" }) {
    id
    status
    platform
  }
}

subscription BotStatus($botId: ID!) {
  botStatus(botId: $botId) { sequence status source reason at }
}

subscription Transcript($botId: ID!) {
  meetingTranscript(botId: $botId) { sequence start end speaker text }
}

query Bot($botId: ID!) {
  meetingBot(id: $botId) {
    status
    summary
    resultData
    statusHistory { status source reason at }
    tasks { title assignee jiraKey jiraUrl error }
  }
}

query Bots {
  meetingBots(first: 10) {
    nodes { id status platform botName createdAt }
    pageInfo { hasNextPage endCursor }
  }
}

mutation StopBot($botId: ID!) {
  stopMeetingBot(id: $botId) { id status }
}`,
      variables: { meetUrl: 'https://meet.google.com/abc-defg-hij', botId: 'the id TriggerBot answered' },
    },
    {
      domain: 'agents',
      query: `# AI agents (admins create them), and everything that happens to one, live.
mutation CreateAgent {
  createAgent(input: { name: "Front desk", systemPrompt: "You answer the customers of a small hotel." }) {
    id
    name
    isActive
  }
}

query Agents {
  agents {
    id
    name
    model
    hasApiKey
    isActive
    settings {
      workingHours { enabled timezone }
      translation { enabled }
      followUp { enabled }
    }
  }
}

subscription AgentEvents($agentId: ID!) {
  agentEvents(agentId: $agentId) { sequence kind detail conversationId integrationId at }
}`,
      variables: { agentId: 'the id CreateAgent answered' },
    },
    {
      domain: 'channels',
      query: `# Integrations: an agent's Telegram bot, WhatsApp number, Instagram account or, to try
# it out, a SANDBOX one whose customers you play with sandboxSendCustomerMessage.
mutation ConnectSandbox($agentId: ID!) {
  connectIntegration(input: { agentId: $agentId, kind: SANDBOX, name: "Try it" }) {
    id
    kind
    state
  }
}

mutation ConnectTelegram($agentId: ID!, $botToken: String!) {
  connectIntegration(input: { agentId: $agentId, kind: TELEGRAM, name: "Telegram", telegram: { botToken: $botToken } }) {
    id
    state
    mode
    stateReason
  }
}

query Integrations {
  integrations { id agentId kind name identity mode state sessionStatus stateReason }
}

mutation Disconnect($integrationId: ID!) {
  disconnectIntegration(id: $integrationId) { id state }
}`,
      variables: {
        agentId: 'an id from Agents',
        botToken: '123456:from-BotFather',
        integrationId: 'an id from Integrations',
      },
    },
    {
      domain: 'conversations',
      query: `# Live chat: play a customer (sandbox), follow the conversation, take it over.
mutation PlayCustomer($integrationId: ID!) {
  sandboxSendCustomerMessage(integrationId: $integrationId, customer: "Ana", text: "Is the pool open today?")
}

query Conversations {
  conversations(first: 10) {
    nodes { id channel remoteUserName manualMode lastRole lastMessageAt }
  }
}

subscription Messages($conversationId: ID!) {
  conversationMessages(conversationId: $conversationId) {
    sequence
    role
    text
    delivery
    sentiment
    author
  }
}

mutation TakeOver($conversationId: ID!) {
  takeOverConversation(id: $conversationId) { id manualMode }
}

mutation Reply($conversationId: ID!) {
  sendManagerMessage(id: $conversationId, text: "Yes, until 9 pm.") { sequence delivery deliveryError }
}

mutation Release($conversationId: ID!) {
  releaseConversation(id: $conversationId) { id manualMode }
}

query Dashboard {
  dashboardStats { messagesToday conversations activeAgents byChannel { channel messages } }
}`,
      variables: { integrationId: 'an id from Integrations', conversationId: 'an id from Conversations' },
    },
    {
      domain: 'broadcasts',
      query: `# One message to many recipients through an integration, within its rate limit.
mutation Broadcast($agentId: ID!, $integrationId: ID!) {
  createBroadcast(input: { agentId: $agentId, integrationId: $integrationId, message: "We open at 8 tomorrow.", recipients: ["1001", "1002", "1003"] }) {
    id
    status
    total
  }
}

subscription Progress($broadcastId: ID!) {
  broadcastProgress(broadcastId: $broadcastId) {
    sequence
    status
    counts { pending sending sent failed unknown }
    rate
    etaSeconds
  }
}

query Broadcasts($agentId: ID!) {
  broadcasts(agentId: $agentId, first: 10) {
    nodes { id status total channel createdAt finishedAt }
  }
}

mutation Cancel($broadcastId: ID!) {
  cancelBroadcast(id: $broadcastId) { id status }
}`,
      variables: {
        agentId: 'an id from Agents',
        integrationId: 'an id from Integrations',
        broadcastId: 'the id Broadcast answered',
      },
    },
    {
      domain: 'media',
      query: `# Memorials and their media. Uploads are GraphQL multipart requests (uploadMedia) or
# POST /api/v1/memorials/{id}/media/upload; GraphiQL cannot send files.
mutation CreateMemorial {
  createMemorial(input: { name: "Grandma Rose", description: "1931–2024" }) { id name }
}

query Memorials {
  memorials(first: 10) {
    nodes {
      id
      name
      media(first: 10) {
        nodes { id kind contentType width height durationSecs url thumbnailUrl }
      }
    }
  }
}

mutation Animate($mediaId: ID!) {
  animatePhoto(input: { mediaId: $mediaId, script: "Hello, my dears." }) { id status provider }
}

subscription Animation($animationId: ID!) {
  animationStatus(animationId: $animationId) { sequence status detail at }
}`,
      variables: { mediaId: 'a photo id from Memorials', animationId: 'the id Animate answered' },
    },
    {
      domain: 'webhooks',
      query: `# Outgoing webhooks (admins): endpoints, their signing secrets and delivery log.
mutation CreateEndpoint($url: String!) {
  createWebhookEndpoint(input: { url: $url, eventTypes: [BOT_STATUS_CHANGED, MEETING_COMPLETED, MESSAGE_CREATED] }) {
    secret
    endpoint { id url eventTypes enabled }
  }
}

query Endpoints {
  webhookEndpoints { id url eventTypes enabled disabledReason failingSince }
}

query Deliveries($endpointId: ID!) {
  webhookDeliveries(endpointId: $endpointId, first: 20) {
    nodes { id eventId status attempts lastStatusCode lastError deliveredAt }
  }
}

mutation Rotate($endpointId: ID!) {
  rotateWebhookSecret(id: $endpointId) { secret endpoint { previousSecretExpiresAt } }
}`,
      variables: { url: 'https://example.com/hooks/switchboard', endpointId: 'an id from Endpoints' },
    },
  ];
})(typeof module === 'object' ? module.exports : (window.switchboard = {}));
